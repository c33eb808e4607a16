import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinReader, BinStreamSplitter, BinWriter, decodeBinPacket, encodeBinPacket } from '../../src/cluster/bin.js';
import {
  AGG_DST_ID,
  CL_EXTRA_CAP,
  CL_INTERNAL_CAP,
  decodeClusterPacket,
  encodeExtra,
  encodeInternal,
  splitTrailer,
  appendTrailer,
} from '../../src/cluster/clusterer.js';
import { ClusterProtocolError } from '../../src/cluster/errors.js';
import {
  CT_MATCH_CONTACT_CALLID,
  CT_MATCH_PARAMS,
  decodeUsrlocPacket,
  decodeUsrlocSyncChunks,
  encodeUsrlocPacket,
  encodeUsrlocSyncChunks,
  usrlocVersionForRelease,
  type ContactFields,
  type UsrlocMessage,
} from '../../src/cluster/usrloc/index.js';

const trailer = { clusterId: 1, sourceId: 9, destId: 2 };

function contact(cflags: number | string): ContactFields {
  return {
    domain: 'location',
    aor: 'alice',
    contact: 'sip:alice@192.0.2.10:5062',
    contactId: 0xfedcba9876543210n,
    callid: 'call-1',
    userAgent: 'UA/1 ü',
    path: '<sip:edge.example.com;lr>',
    attr: 'a',
    received: 'sip:198.51.100.7:40000',
    instance: '<urn:uuid:1>',
    expires: 1767225600n,
    q: 500,
    socket: 'udp:127.0.0.1:5060',
    cseq: 42,
    flags: 0x80000001,
    cflags,
    methods: 0xffffffff,
    lastModified: 1767222000n,
    kvStore: '{"k":"v"}',
    match: { mode: CT_MATCH_CONTACT_CALLID },
  };
}

test('BIN header: marker, length, version, capability, type exactly as _bin_init() lays them out', () => {
  const body = new BinWriter().str('ab').int(-2).toBuffer();
  const buf = encodeBinPacket({ version: 5, capability: 'cap', type: 3, body });
  assert.equal(
    buf.toString('hex'),
    '5034434b' + // P4CK
      '1b000000' + // 27 bytes: 10 header + 2 + 3 + 4 + 8 body
      '0500' + // version 5
      '0300' +
      Buffer.from('cap').toString('hex') +
      '03000000' + // type 3
      '0200' +
      Buffer.from('ab').toString('hex') +
      'feffffff',
  );
  const p = decodeBinPacket(buf);
  assert.deepEqual({ ...p, body: p.body.toString('hex') }, { version: 5, capability: 'cap', type: 3, body: body.toString('hex') });
});

test('BIN: null, undefined and "" are all a zero-length str; reads past the end are refused', () => {
  const b = new BinWriter().str(null).str(undefined).str('').toBuffer();
  assert.equal(b.toString('hex'), '000000000000');
  const r = new BinReader(b);
  assert.equal(r.str('a'), '');
  assert.equal(r.str('b'), '');
  assert.equal(r.str('c'), '');
  assert.throws(
    () => r.int('d'),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PACKET_MALFORMED',
  );
});

test('BIN: bad marker, bad length and a capability running past the end are CLUSTER_PACKET_MALFORMED', () => {
  const good = encodeBinPacket({ version: 1, capability: 'x', type: 0, body: Buffer.alloc(0) });
  const bad = Buffer.from(good);
  bad.write('P5CK', 0, 'latin1');
  const isMalformed = (e: unknown): boolean => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PACKET_MALFORMED';
  assert.throws(() => decodeBinPacket(bad), isMalformed);
  assert.throws(() => decodeBinPacket(good.subarray(0, good.length - 1)), isMalformed);
  const capLong = Buffer.from(good);
  capLong.writeUInt16LE(200, 10);
  assert.throws(() => decodeBinPacket(capLong), isMalformed);
});

test('BIN stream splitter: packets split across and joined within chunks', () => {
  const a = encodeBinPacket({ version: 1, capability: 'a', type: 1, body: Buffer.from([1, 2, 3]) });
  const b = encodeBinPacket({ version: 1, capability: 'bb', type: 2, body: Buffer.alloc(0) });
  const all = Buffer.concat([a, b, a]);
  const s = new BinStreamSplitter();
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += 5) out.push(...s.push(all.subarray(i, i + 5)));
  assert.deepEqual(
    out.map((x) => x.toString('hex')),
    [a, b, a].map((x) => x.toString('hex')),
  );
  assert.equal(s.buffered, 0);
});

test('usrloc v5 (3.6/4.0): every message type round-trips, byte for byte', () => {
  const msgs: UsrlocMessage[] = [
    { type: 'URECORD_INSERT', record: { domain: 'location', aor: 'alice', label: 0xfffffff0, nextClabel: 7, kvStore: '{"x":1}' } },
    { type: 'URECORD_DELETE', domain: 'location', aor: 'alice' },
    { type: 'UCONTACT_INSERT', contact: contact('NAT OTHER') },
    { type: 'UCONTACT_UPDATE', contact: { ...contact(''), match: { mode: CT_MATCH_PARAMS, params: ['ob', 'x'] } } },
    { type: 'UCONTACT_DELETE', delete: { domain: 'location', aor: 'alice', contact: 'sip:a', callid: 'c', cseq: 3, match: { mode: -1 } } },
  ];
  for (const message of msgs) {
    const buf = encodeUsrlocPacket({ version: 5, message, trailer });
    const back = decodeUsrlocPacket(buf);
    assert.deepEqual(back, { version: 5, message, trailer }, message.type);
    assert.equal(encodeUsrlocPacket(back).toString('hex'), buf.toString('hex'));
  }
});

test('usrloc v5 field order: UPDATE carries contact_id after kv_store, INSERT right after the contact', () => {
  const c = contact('');
  const ins = decodeBinPacket(encodeUsrlocPacket({ version: 5, message: { type: 'UCONTACT_INSERT', contact: c }, trailer })).body;
  const upd = decodeBinPacket(encodeUsrlocPacket({ version: 5, message: { type: 'UCONTACT_UPDATE', contact: c }, trailer })).body;
  const id = Buffer.alloc(10);
  id.writeUInt16LE(8, 0);
  id.writeBigUInt64LE(c.contactId, 2);
  const afterContact = 2 + 8 + 2 + 5 + 2 + c.contact.length;
  assert.equal(ins.subarray(afterContact, afterContact + 10).toString('hex'), id.toString('hex'));
  // UPDATE: ... kv_store, contact_id, cmatch (int 1), trailer (12)
  assert.equal(upd.subarray(upd.length - 12 - 4 - 10, upd.length - 16).toString('hex'), id.toString('hex'));
});

test('usrloc v3 (3.4/3.5): cflags is an int, URECORD_INSERT has no kv store', () => {
  const m: UsrlocMessage = { type: 'UCONTACT_INSERT', contact: contact(0x21) };
  const buf = encodeUsrlocPacket({ version: 3, message: m, trailer });
  assert.deepEqual(decodeUsrlocPacket(buf).message, m);
  const rec: UsrlocMessage = { type: 'URECORD_INSERT', record: { domain: 'location', aor: 'bob', label: 5, nextClabel: 1 } };
  const rb = encodeUsrlocPacket({ version: 3, message: rec, trailer });
  assert.equal(decodeBinPacket(rb).body.length, 2 + 8 + 2 + 3 + 4 + 4 + 12);
  assert.deepEqual(decodeUsrlocPacket(rb).message, rec);
  // a v5 contact (cflags names) cannot be written as v3 and vice versa
  assert.throws(
    () => encodeUsrlocPacket({ version: 3, message: { type: 'UCONTACT_INSERT', contact: contact('NAT') }, trailer }),
    ClusterProtocolError,
  );
  assert.throws(() => encodeUsrlocPacket({ version: 5, message: m, trailer }), ClusterProtocolError);
});

test('a v3 packet read as v5 (or the reverse) is refused, not misread', () => {
  const v3 = encodeUsrlocPacket({ version: 3, message: { type: 'UCONTACT_INSERT', contact: contact(1) }, trailer });
  const relabelled = Buffer.from(v3);
  relabelled.writeInt16LE(5, 8);
  assert.throws(
    () => decodeUsrlocPacket(relabelled),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PACKET_MALFORMED',
  );
});

test('unknown and newer usrloc versions are CLUSTER_PROTOCOL_UNSUPPORTED with an operator hint', () => {
  const v5 = encodeUsrlocPacket({ version: 5, message: { type: 'URECORD_DELETE', domain: 'location', aor: 'a' }, trailer });
  for (const v of [2, 4, 6, 42]) {
    const b = Buffer.from(v5);
    b.writeInt16LE(v, 8);
    assert.throws(
      () => decodeUsrlocPacket(b),
      (e: unknown) =>
        e instanceof ClusterProtocolError && e.code === 'CLUSTER_PROTOCOL_UNSUPPORTED' && e.message.includes(`UL_BIN_VERSION ${v}`),
    );
  }
  const b = Buffer.from(v5);
  b.writeInt16LE(6, 8);
  assert.throws(() => decodeUsrlocPacket(b), /upgrade ulbridge/);
  const t = Buffer.from(v5);
  t.writeInt32LE(9, 12 + 'usrloc-contact-repl'.length);
  assert.throws(
    () => decodeUsrlocPacket(t),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PROTOCOL_UNSUPPORTED',
  );
  assert.equal(usrlocVersionForRelease('3.6.8'), 5);
  assert.equal(usrlocVersionForRelease('4.0'), 5);
  assert.equal(usrlocVersionForRelease('3.4.1'), 3);
  assert.throws(
    () => usrlocVersionForRelease('3.3'),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PROTOCOL_UNSUPPORTED',
  );
});

test('clusterer trailer, 4.0 bridge trailer, and the extra / internal messages round-trip', () => {
  const payload = Buffer.from([1, 2, 3, 4]);
  const t1 = { clusterId: 1, sourceId: 2, destId: 3 };
  assert.deepEqual(splitTrailer(appendTrailer(payload, t1)), { payload, trailer: t1 });
  const t2 = { clusterId: 7, sourceId: 2, destId: AGG_DST_ID, srcClusterId: 1 };
  assert.deepEqual(splitTrailer(appendTrailer(payload, t2)), { payload, trailer: t2 });

  const sync = encodeExtra({
    message: {
      type: 'SYNC',
      capability: 'usrloc-contact-repl',
      dataVersion: 5,
      chunks: encodeUsrlocSyncChunks(5, [{ kind: 'ucontact', contact: contact('') }]),
    },
    trailer: t1,
  });
  const d = decodeClusterPacket(sync);
  assert.equal(d.kind, 'extra');
  if (d.kind !== 'extra' || d.message.type !== 'SYNC') throw new Error('not a sync');
  assert.equal(decodeBinPacket(sync).version, 3);
  assert.deepEqual(decodeUsrlocSyncChunks(5, d.message.chunks), [{ kind: 'ucontact', contact: contact('') }]);
  assert.equal(encodeExtra(d).toString('hex'), sync.toString('hex'));

  const cap = encodeInternal({
    clusterId: 1,
    sourceId: 2,
    message: {
      type: 'CAP_UPDATE',
      seqNo: 3,
      timestamp: 1700000000,
      nodes: [{ nodeId: 2, capabilities: [{ name: 'usrloc-contact-repl', state: 1 }] }],
      requireReply: 1,
      path: [2],
    },
  });
  const c = decodeClusterPacket(cap);
  assert.equal(c.kind, 'internal');
  if (c.kind !== 'internal') throw new Error('not internal');
  assert.equal(encodeInternal(c).toString('hex'), cap.toString('hex'));
  assert.equal(decodeBinPacket(cap).capability, CL_INTERNAL_CAP);

  const bad = Buffer.from(cap);
  bad.writeInt16LE(2, 8);
  assert.throws(
    () => decodeClusterPacket(bad),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PROTOCOL_UNSUPPORTED',
  );
  const unknownExtra = encodeBinPacket({ version: 1, capability: CL_EXTRA_CAP, type: 14, body: appendTrailer(Buffer.alloc(0), t1) });
  assert.throws(
    () => decodeClusterPacket(unknownExtra),
    (e: unknown) => e instanceof ClusterProtocolError && e.code === 'CLUSTER_PROTOCOL_UNSUPPORTED',
  );
});
