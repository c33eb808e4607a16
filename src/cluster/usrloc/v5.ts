/**
 * UL_BIN_VERSION 5 (UL_BIN_V5): sent by OpenSIPS 3.6.x and 4.0.x (modules/usrloc/ul_cluster.c).
 * Against V3: branch flags travel as their names (V4), and URECORD_INSERT carries the record's
 * key-value store (V5). Field order, exactly as pushed:
 *
 *  URECORD_INSERT (bin_push_urecord): str domain, str aor, int label, int next_clabel, str kv_store
 *  URECORD_DELETE: str domain, str aor
 *  UCONTACT_INSERT (bin_push_contact): str domain, str aor, str contact, str(8) contact_id,
 *    str callid, str user_agent, str path, str attr, str received, str instance, str(8) expires,
 *    str(4) q, str socket, int cseq, int flags, str cflags, int methods, str(8) last_modified,
 *    str kv_store, cmatch
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

export const UL_BIN_V5 = 5;

function readUrecord(r: BinReader): UrecordFields {
  return {
    domain: r.str('domain'),
    aor: r.str('aor'),
    label: r.uint('label'),
    nextClabel: r.int('next_clabel'),
    kvStore: r.str('kv_store'),
  };
}

function writeUrecord(w: BinWriter, rec: UrecordFields): void {
  w.str(rec.domain)
    .str(rec.aor)
    .int(rec.label)
    .int(rec.nextClabel)
    .str(rec.kvStore ?? '');
}

function cflagsOf(c: ContactFields): string {
  if (typeof c.cflags !== 'string') throw malformed(`UL_BIN_VERSION 5 carries branch flags as names, got the bitmask ${c.cflags}`);
  return c.cflags;
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
    cflags: r.str('cflags'),
    methods: r.uint('methods'),
    lastModified: r.i64Str('last_modified'),
    kvStore: r.str('kv_store'),
  };
}

function writeContactBody(w: BinWriter, c: ContactFields): void {
  w.str(c.callid).str(c.userAgent).str(c.path).str(c.attr).str(c.received).str(c.instance);
  w.i64Str(c.expires).i32Str(c.q).str(c.socket);
  w.int(c.cseq).int(c.flags).str(cflagsOf(c)).int(c.methods);
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
  const r = new BinReader(chunk, 'usrloc v5 sync chunk');
  const isContact = r.int('is_contact');
  let out: UsrlocSyncChunk;
  if (isContact === 0) out = { kind: 'urecord', record: readUrecord(r) };
  else if (isContact === 1) out = { kind: 'ucontact', contact: readContactInsert(r) };
  else throw malformed(`usrloc v5 sync chunk: is_contact is ${isContact}, expected 0 or 1`);
  r.end();
  return out;
}

function encodeSyncChunk(chunk: UsrlocSyncChunk): Buffer {
  const w = new BinWriter();
  if (chunk.kind === 'urecord') writeUrecord(w.int(0), chunk.record);
  else writeContactInsert(w.int(1), chunk.contact);
  return w.toBuffer();
}

export const usrlocV5: UsrlocCodec = {
  version: UL_BIN_V5,
  releases: ['3.6', '4.0'],
  decode(type: number, body: Buffer): UsrlocMessage {
    const r = new BinReader(body, `usrloc v5 packet type ${type}`);
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
        throw unknownType(UL_BIN_V5, type);
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
