/**
 * The usrloc replication packets (modules/usrloc/ul_cluster.c), one codec per UL_BIN_VERSION built
 * from its layout (./v3.ts, ./v5.ts). Field order, exactly as pushed ([V5 only]):
 *
 *  URECORD_INSERT (bin_push_urecord): str domain, str aor, int label, int next_clabel[, str kv_store]
 *  URECORD_DELETE: str domain, str aor
 *  UCONTACT_INSERT (bin_push_contact): str domain, str aor, str contact, str(8) contact_id,
 *    str callid, str user_agent, str path, str attr, str received, str instance, str(8) expires,
 *    str(4) q, str socket, int cseq, int flags, cflags (V3: int bitmask; V5: str names), int methods,
 *    str(8) last_modified, str kv_store, cmatch
 *  UCONTACT_UPDATE: as INSERT but without contact_id after contact; contact_id comes after
 *    kv_store, then cmatch
 *  UCONTACT_DELETE: str domain, str aor, str contact, str callid, int cseq, cmatch
 *  cmatch: int mode [, int n, n x str param   when mode == CT_MATCH_PARAMS]
 *  sync chunk: int is_contact (0 = record, 1 = contact) then the INSERT fields of either
 */
import { BinReader, BinWriter } from '../bin.js';
import { malformed } from '../errors.js';
import { readMatch, unknownType, writeMatch } from './common.js';
import {
  CT_MATCH_CONTACT_CALLID,
  REPL_UCONTACT_DELETE,
  REPL_UCONTACT_INSERT,
  REPL_UCONTACT_UPDATE,
  REPL_URECORD_DELETE,
  REPL_URECORD_INSERT,
  TYPE_CODES,
  type ContactFields,
  type UrecordFields,
  type UsrlocCodec,
  type UsrlocMessage,
  type UsrlocSyncChunk,
} from './types.js';

/** What sets one UL_BIN_VERSION apart; everything else is laid out the same in every version. */
export interface UsrlocLayout {
  version: number;
  /** The OpenSIPS releases that send this version. */
  releases: readonly string[];
  /** URECORD_INSERT (and a record sync chunk) ends with the record's key-value store (V5). */
  recordKvStore: boolean;
  /** Branch flags as an int bitmask (up to V3) or as their names (V4+). */
  cflags: 'bitmask' | 'names';
}

/** The usrloc replication codec of one UL_BIN_VERSION (./v3.ts, ./v5.ts declare theirs). */
export function usrlocCodec(layout: UsrlocLayout): UsrlocCodec {
  const v = layout.version;

  function readUrecord(r: BinReader): UrecordFields {
    const rec: UrecordFields = { domain: r.str('domain'), aor: r.str('aor'), label: r.uint('label'), nextClabel: r.int('next_clabel') };
    if (layout.recordKvStore) rec.kvStore = r.str('kv_store');
    return rec;
  }

  function writeUrecord(w: BinWriter, rec: UrecordFields): void {
    if (!layout.recordKvStore && rec.kvStore)
      throw malformed(`UL_BIN_VERSION ${v} cannot carry a record key-value store (OpenSIPS 3.6+ only)`);
    w.str(rec.domain).str(rec.aor).int(rec.label).int(rec.nextClabel);
    if (layout.recordKvStore) w.str(rec.kvStore ?? '');
  }

  function writeCflags(w: BinWriter, c: ContactFields): BinWriter {
    if (layout.cflags === 'names') {
      if (typeof c.cflags !== 'string') throw malformed(`UL_BIN_VERSION ${v} carries branch flags as names, got the bitmask ${c.cflags}`);
      return w.str(c.cflags);
    }
    if (typeof c.cflags !== 'number')
      throw malformed(`UL_BIN_VERSION ${v} carries branch flags as an int bitmask, got the names ${JSON.stringify(c.cflags)}`);
    return w.int(c.cflags);
  }

  /** The fields common to INSERT and UPDATE, between contact (exclusive) and kv_store (inclusive). */
  function readContactBody(r: BinReader): Omit<ContactFields, 'domain' | 'aor' | 'contact' | 'contactId' | 'match'> {
    return {
      callid: r.str('callid'),
      userAgent: r.str('user_agent'),
      path: r.str('path'),
      attr: r.str('attr'),
      received: r.str('received'),
      instance: r.str('instance'),
      expires: r.i64Str('expires'),
      q: r.i32Str('q'),
      socket: r.str('socket'),
      cseq: r.int('cseq'),
      flags: r.uint('flags'),
      cflags: layout.cflags === 'names' ? r.str('cflags') : r.int('cflags'),
      methods: r.uint('methods'),
      lastModified: r.i64Str('last_modified'),
      kvStore: r.str('kv_store'),
    };
  }

  function writeContactBody(w: BinWriter, c: ContactFields): void {
    w.str(c.callid).str(c.userAgent).str(c.path).str(c.attr).str(c.received).str(c.instance);
    w.i64Str(c.expires).i32Str(c.q).str(c.socket);
    writeCflags(w.int(c.cseq).int(c.flags), c).int(c.methods);
    w.i64Str(c.lastModified).str(c.kvStore);
  }

  function readContactInsert(r: BinReader): ContactFields {
    const domain = r.str('domain');
    const aor = r.str('aor');
    const contact = r.str('contact');
    const contactId = r.u64Str('contact_id');
    const body = readContactBody(r);
    const match = readMatch(r);
    return { domain, aor, contact, contactId, ...body, match };
  }

  function writeContactInsert(w: BinWriter, c: ContactFields): void {
    w.str(c.domain).str(c.aor).str(c.contact).u64Str(c.contactId);
    writeContactBody(w, c);
    writeMatch(w, c.match ?? { mode: CT_MATCH_CONTACT_CALLID });
  }

  function readContactUpdate(r: BinReader): ContactFields {
    const domain = r.str('domain');
    const aor = r.str('aor');
    const contact = r.str('contact');
    const body = readContactBody(r);
    const contactId = r.u64Str('contact_id');
    const match = readMatch(r);
    return { domain, aor, contact, contactId, ...body, match };
  }

  function writeContactUpdate(w: BinWriter, c: ContactFields): void {
    w.str(c.domain).str(c.aor).str(c.contact);
    writeContactBody(w, c);
    w.u64Str(c.contactId);
    writeMatch(w, c.match ?? { mode: CT_MATCH_CONTACT_CALLID });
  }

  function decodeSyncChunk(chunk: Buffer): UsrlocSyncChunk {
    const r = new BinReader(chunk, `usrloc v${v} sync chunk`);
    const isContact = r.int('is_contact');
    let out: UsrlocSyncChunk;
    if (isContact === 0) out = { kind: 'urecord', record: readUrecord(r) };
    else if (isContact === 1) out = { kind: 'ucontact', contact: readContactInsert(r) };
    else throw malformed(`usrloc v${v} sync chunk: is_contact is ${isContact}, expected 0 or 1`);
    r.end();
    return out;
  }

  function encodeSyncChunk(chunk: UsrlocSyncChunk): Buffer {
    const w = new BinWriter();
    if (chunk.kind === 'urecord') writeUrecord(w.int(0), chunk.record);
    else writeContactInsert(w.int(1), chunk.contact);
    return w.toBuffer();
  }

  return {
    version: v,
    releases: layout.releases,
    decode(type: number, body: Buffer): UsrlocMessage {
      const r = new BinReader(body, `usrloc v${v} packet type ${type}`);
      let m: UsrlocMessage;
      switch (type) {
        case REPL_URECORD_INSERT:
          m = { type: 'URECORD_INSERT', record: readUrecord(r) };
          break;
        case REPL_URECORD_DELETE:
          m = { type: 'URECORD_DELETE', domain: r.str('domain'), aor: r.str('aor') };
          break;
        case REPL_UCONTACT_INSERT:
          m = { type: 'UCONTACT_INSERT', contact: readContactInsert(r) };
          break;
        case REPL_UCONTACT_UPDATE:
          m = { type: 'UCONTACT_UPDATE', contact: readContactUpdate(r) };
          break;
        case REPL_UCONTACT_DELETE:
          m = {
            type: 'UCONTACT_DELETE',
            delete: {
              domain: r.str('domain'),
              aor: r.str('aor'),
              contact: r.str('contact'),
              callid: r.str('callid'),
              cseq: r.int('cseq'),
              match: readMatch(r),
            },
          };
          break;
        default:
          throw unknownType(v, type);
      }
      r.end();
      return m;
    },
    encode(m) {
      const w = new BinWriter();
      switch (m.type) {
        case 'URECORD_INSERT':
          writeUrecord(w, m.record);
          break;
        case 'URECORD_DELETE':
          w.str(m.domain).str(m.aor);
          break;
        case 'UCONTACT_INSERT':
          writeContactInsert(w, m.contact);
          break;
        case 'UCONTACT_UPDATE':
          writeContactUpdate(w, m.contact);
          break;
        case 'UCONTACT_DELETE':
          w.str(m.delete.domain).str(m.delete.aor).str(m.delete.contact).str(m.delete.callid).int(m.delete.cseq);
          writeMatch(w, m.delete.match ?? { mode: CT_MATCH_CONTACT_CALLID });
          break;
      }
      return { type: TYPE_CODES[m.type], body: w.toBuffer() };
    },
    decodeSyncChunk,
    encodeSyncChunk,
  };
}
