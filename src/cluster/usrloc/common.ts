import { BinReader, BinWriter } from '../bin.js';
import { malformed, unsupported } from '../errors.js';
import { CT_MATCH_PARAMS, type ContactMatch } from './types.js';

/** bin_push_ctmatch(): mode, and for CT_MATCH_PARAMS the count and the param names. */
export function writeMatch(w: BinWriter, m: ContactMatch): void {
  w.int(m.mode);
  if (m.mode !== CT_MATCH_PARAMS) {
    if (m.params && m.params.length > 0) throw malformed(`contact match mode ${m.mode} carries no params`);
    return;
  }
  const params = m.params ?? [];
  w.int(params.length);
  for (const p of params) w.str(p);
}

/** bin_pop_ctmatch(). */
export function readMatch(r: BinReader): ContactMatch {
  const mode = r.int('cmatch.mode');
  if (mode !== CT_MATCH_PARAMS) return { mode };
  const n = r.int('cmatch.count');
  if (n < 0 || n > 0xffff) throw malformed(`usrloc packet: impossible contact match param count ${n}`);
  const params: string[] = [];
  for (let i = 0; i < n; i++) params.push(r.str(`cmatch.param[${i}]`));
  return { mode, params };
}

export function unknownType(version: number, type: number): Error {
  return unsupported(
    `usrloc replication packet type ${type} (UL_BIN_VERSION ${version}) is not one ulbridge knows (1-5, 101); ` +
      'the registrar runs a newer OpenSIPS than this ulbridge supports: upgrade ulbridge or remove the node from the cluster',
  );
}
