import type { DbConnection } from '../db/connection.js';
import { parseTableName } from '../db/table.js';
import { datetimeToUnix } from '../cdc/time.js';
import { aorBytes, canonicalAor } from '../opensips/aor.js';
import { coreHash, type CharSignedness } from '../opensips/coreHash.js';
import { slotCount, slotOf } from '../opensips/hashSize.js';
import { releaseProfile } from '../opensips/releases.js';

/**
 * A location table read as a set of bindings, with every field in one canonical form, so tables of
 * different releases and databases compare: times as unix seconds (DATETIME read in the
 * registrar's zone), AOR in registrar-canonical form, FL_MEM cleared, q to two decimals. Ids are
 * left out: they are what ulbridge is allowed to change.
 */
export interface BindingSetOptions {
  table: string;
  release: string;
  /** Zone of the registrar that wrote DATETIME columns. */
  timeZone: string;
  /** Registrar case_sensitive: when false the user part compares lower-cased. */
  caseSensitive: boolean;
  /** Unix seconds: bindings with 0 < expires <= now are counted as expired, not compared. */
  now: number;
  /** When given, live bindings are also counted per usrloc hash slot of this registrar setting. */
  slots?: SlotOptions;
}

/** The registrar settings that place an AOR in a usrloc hash slot. */
export interface SlotOptions {
  hashSize: number;
  useDomain: boolean;
  signedness: CharSignedness;
}

export const BINDING_FIELDS = [
  'username',
  'domain',
  'contact',
  'received',
  'path',
  'expires',
  'q',
  'callid',
  'cseq',
  'lastModified',
  'flags',
  'cflags',
  'userAgent',
  'socket',
  'methods',
  'sipInstance',
  'attr',
] as const;

export type BindingTuple = Record<(typeof BINDING_FIELDS)[number], string | number | null>;

export interface BindingSet {
  rows: number;
  expired: number;
  /** Live bindings: canonical JSON of the tuple -> how many rows carry it. */
  live: Map<string, number>;
  /** Live bindings per hash slot (index = slot), when `slots` was given. */
  perSlot?: Uint32Array;
}

/** The usrloc slot of a canonical AOR: core_hash(AOR) & (2^hash_size - 1). */
export function bindingSlot(username: string, domain: string | null, o: SlotOptions): number {
  return slotOf(coreHash(aorBytes(username, domain, { useDomain: o.useDomain }), o.signedness), o.hashSize);
}

/** A DATETIME read in the registrar's zone; localtime(0) ("permanent") comes back as 0. */
function wallToUnix(text: string, zone: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(text);
  if (!m) throw new Error(`unparsable DATETIME "${text}"`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number(datetimeToUnix({ kind: 'wall', micros: BigInt(ms) * 1000n, path: 'expires' }, zone));
}

const emptyToNull = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));

export async function readBindingSet(db: DbConnection, opts: BindingSetOptions): Promise<BindingSet> {
  const profile = releaseProfile(opts.release);
  const d = db.dialect;
  const t = parseTableName(opts.table);
  const q = (c: string): string => d.quoteIdent(c);
  const cols = [
    'username',
    'domain',
    'contact',
    'received',
    'path',
    'q',
    'callid',
    'cseq',
    'flags',
    'cflags',
    'user_agent',
    'socket',
    'methods',
    'sip_instance',
    'attr',
  ].map(q);
  const expires = profile.expires === 'datetime' ? d.datetimeText(q('expires')) : q('expires');
  const sql = `SELECT ${cols.join(', ')}, ${expires} AS ${q('expires_v')}, ${d.datetimeText(q('last_modified'))} AS ${q('last_modified_v')} FROM ${d.table(t)}`;
  const set: BindingSet = { rows: 0, expired: 0, live: new Map() };
  const perSlot = opts.slots ? new Uint32Array(slotCount(opts.slots.hashSize)) : null;
  if (perSlot) set.perSlot = perSlot;
  for await (const batch of db.stream<Record<string, unknown>>(sql, [], 5000)) {
    for (const r of batch) {
      set.rows++;
      const exp = profile.expires === 'datetime' ? wallToUnix(String(r.expires_v), opts.timeZone) : Number(r.expires_v);
      if (exp !== 0 && exp <= opts.now) {
        set.expired++;
        continue;
      }
      const aor = canonicalAor(String(r.username ?? ''), emptyToNull(r.domain), { caseSensitive: opts.caseSensitive });
      const tuple: BindingTuple = {
        username: aor.username,
        domain: aor.domain,
        contact: String(r.contact ?? ''),
        received: emptyToNull(r.received),
        path: emptyToNull(r.path),
        expires: exp,
        q: Math.round(Number(r.q) * 100) / 100,
        callid: String(r.callid ?? ''),
        cseq: Number(r.cseq),
        lastModified: wallToUnix(String(r.last_modified_v), opts.timeZone),
        flags: Number(r.flags) & ~1,
        cflags: emptyToNull(r.cflags),
        userAgent: String(r.user_agent ?? ''),
        socket: emptyToNull(r.socket),
        methods: r.methods === null ? null : Number(r.methods),
        sipInstance: emptyToNull(r.sip_instance),
        attr: emptyToNull(r.attr),
      };
      if (perSlot) perSlot[bindingSlot(aor.username, aor.domain, opts.slots!)]!++;
      const key = JSON.stringify(BINDING_FIELDS.map((f) => tuple[f]));
      set.live.set(key, (set.live.get(key) ?? 0) + 1);
    }
  }
  return set;
}

export interface BindingDiff {
  equal: boolean;
  source: { rows: number; live: number; expired: number };
  target: { rows: number; live: number; expired: number };
  onlyInSource: number;
  onlyInTarget: number;
  examples: { onlyInSource: BindingTuple[]; onlyInTarget: BindingTuple[] };
}

function count(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

export function toTuple(key: string): BindingTuple {
  const values = JSON.parse(key) as Array<string | number | null>;
  return Object.fromEntries(BINDING_FIELDS.map((f, i) => [f, values[i] ?? null])) as BindingTuple;
}

/** Multiset difference of the live bindings of two tables. */
export function diffBindingSets(source: BindingSet, target: BindingSet, maxExamples = 5): BindingDiff {
  const onlyIn = (a: BindingSet, b: BindingSet): { n: number; examples: BindingTuple[] } => {
    let n = 0;
    const examples: BindingTuple[] = [];
    for (const [k, c] of a.live) {
      const extra = c - (b.live.get(k) ?? 0);
      if (extra > 0) {
        n += extra;
        if (examples.length < maxExamples) examples.push(toTuple(k));
      }
    }
    return { n, examples };
  };
  const s = onlyIn(source, target);
  const t = onlyIn(target, source);
  return {
    equal: s.n === 0 && t.n === 0,
    source: { rows: source.rows, live: count(source.live), expired: source.expired },
    target: { rows: target.rows, live: count(target.live), expired: target.expired },
    onlyInSource: s.n,
    onlyInTarget: t.n,
    examples: { onlyInSource: s.examples, onlyInTarget: t.examples },
  };
}
