/**
 * Packets captured from real OpenSIPS registrars (test/fixtures/opensips-bin/<release>/, see the
 * README there): every fixture decodes to the field values recorded beside it and re-encodes byte
 * for byte; the scenario's packets carry exactly the values the SIP client registered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBinPacket } from '../../src/cluster/bin.js';
import { unpackContactId } from '../../src/opensips/contactId.js';
import {
  CL_EXTRA_CAP,
  CL_INTERNAL_CAP,
  decodeClusterPacket,
  encodeExtra,
  encodeInternal,
  encodeModule,
} from '../../src/cluster/clusterer.js';
import {
  decodeUsrlocPacket,
  decodeUsrlocSyncChunks,
  encodeUsrlocPacket,
  encodeUsrlocSyncChunks,
  USRLOC_CAPABILITY,
  type ContactFields,
  type UsrlocMessage,
} from '../../src/cluster/usrloc/index.js';

const ROOT = fileURLToPath(new URL('../fixtures/opensips-bin/', import.meta.url));

interface Fixture {
  via: string;
  capability: string;
  version: number;
  type: number;
  hex: string;
  decoded: unknown;
}

function releases(): string[] {
  return existsSync(ROOT) ? readdirSync(ROOT).filter((d) => /^\d+\.\d+$/.test(d)) : [];
}

function fixtures(release: string): Array<{ file: string; f: Fixture }> {
  const dir = join(ROOT, release);
  return readdirSync(dir)
    .filter((f) => /^\d{3}-.*\.json$/.test(f))
    .sort()
    .map((file) => ({ file, f: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Fixture }));
}

/** As the capture wrote it: bigints as decimal strings, Buffers as hex. */
function plain(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return x.toString();
      const b = x as { type?: unknown; data?: unknown } | null;
      if (b && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data))
        return Buffer.from(b.data as number[]).toString('hex');
      return x;
    }),
  ) as unknown;
}

function reencode(bytes: Buffer): Buffer {
  const bp = decodeBinPacket(bytes);
  if (bp.capability === USRLOC_CAPABILITY) return encodeUsrlocPacket(decodeUsrlocPacket(bytes));
  const d = decodeClusterPacket(bytes);
  if (d.kind === 'internal') return encodeInternal(d);
  if (d.kind === 'extra') {
    if (d.message.type === 'SYNC' && d.message.capability === USRLOC_CAPABILITY) {
      // through the usrloc codec too: chunks decoded to fields and encoded again
      const chunks = encodeUsrlocSyncChunks(d.message.dataVersion, decodeUsrlocSyncChunks(d.message.dataVersion, d.message.chunks));
      return encodeExtra({ ...d, message: { ...d.message, chunks } });
    }
    return encodeExtra(d);
  }
  return encodeModule(d);
}

function decodeAll(bytes: Buffer): unknown {
  const bp = decodeBinPacket(bytes);
  if (bp.capability === USRLOC_CAPABILITY) return decodeUsrlocPacket(bytes);
  const d = decodeClusterPacket(bytes);
  if (d.kind === 'extra' && d.message.type === 'SYNC' && d.message.capability === USRLOC_CAPABILITY) {
    return { ...d, usrlocChunks: decodeUsrlocSyncChunks(d.message.dataVersion, d.message.chunks) };
  }
  return d;
}

for (const release of releases()) {
  test(`OpenSIPS ${release} fixtures: every packet decodes to its recorded fields and re-encodes byte for byte`, () => {
    const all = fixtures(release);
    assert.ok(all.length > 0, `no fixtures for ${release}`);
    for (const { file, f } of all) {
      const bytes = Buffer.from(f.hex, 'hex');
      const bp = decodeBinPacket(bytes);
      assert.deepEqual([bp.capability, bp.version, bp.type], [f.capability, f.version, f.type], file);
      assert.deepEqual(plain(decodeAll(bytes)), f.decoded, file);
      assert.equal(reencode(bytes).toString('hex'), f.hex, file);
    }
  });

  test(`OpenSIPS ${release} fixtures: the capture covers the node protocol, usrloc replication and a sync`, () => {
    const kinds = new Set(
      fixtures(release).map(({ f }) => {
        const bp = decodeBinPacket(Buffer.from(f.hex, 'hex'));
        if (bp.capability === USRLOC_CAPABILITY) return `usrloc:${decodeUsrlocPacket(Buffer.from(f.hex, 'hex')).message.type}`;
        const d = decodeClusterPacket(Buffer.from(f.hex, 'hex'));
        return `${bp.capability === CL_INTERNAL_CAP ? 'internal' : bp.capability === CL_EXTRA_CAP ? 'extra' : 'module'}:${d.kind === 'module' ? d.type : d.message.type}`;
      }),
    );
    for (const k of [
      'internal:PING',
      'internal:PONG',
      'internal:CAP_UPDATE',
      'usrloc:URECORD_INSERT',
      'usrloc:UCONTACT_INSERT',
      'usrloc:UCONTACT_UPDATE',
      'usrloc:UCONTACT_DELETE',
      'extra:SYNC_REQ',
      'extra:SYNC',
      'extra:SYNC_END',
    ]) {
      assert.ok(kinds.has(k), `${release}: no ${k} packet among ${[...kinds].sort().join(', ')}`);
    }
  });
}

/** UL_BIN_VERSION each release sends. */
function ulVersion(release: string): number {
  return release === '3.4' || release === '3.5' ? 3 : 5;
}

/** The usrloc packets node 1 replicated to node 2 in a capture, in order. */
function usrlocOf(release: string): UsrlocMessage[] {
  return fixtures(release)
    .filter(({ f }) => f.capability === USRLOC_CAPABILITY)
    .map(({ f }) => decodeUsrlocPacket(Buffer.from(f.hex, 'hex')))
    .map((p) => {
      assert.deepEqual(p.trailer, { clusterId: 1, sourceId: 1, destId: 2 });
      assert.equal(p.version, ulVersion(release));
      return p.message;
    });
}

function contactOf(m: UsrlocMessage | undefined, type: 'UCONTACT_INSERT' | 'UCONTACT_UPDATE'): ContactFields {
  assert.ok(m && m.type === type, `expected ${type}, got ${m?.type}`);
  return (m as { contact: ContactFields }).contact;
}

for (const release of releases())
  test(`OpenSIPS ${release} capture: the replication of each SIP step carries exactly what was registered`, () => {
    const m = usrlocOf(release);
    const v5 = ulVersion(release) === 5;
    // 4.0 turned usrloc's use_domain on by default (ul_mod.c:155@4.0.1): the AOR keeps its domain
    const alice = release === '4.0' ? 'alice@example.com' : 'alice';
    assert.deepEqual(
      m.map((x) => x.type),
      [
        'URECORD_INSERT', // 1 alice's first REGISTER: record, then contact
        'UCONTACT_INSERT',
        'UCONTACT_UPDATE', // 2 refresh
        'UCONTACT_INSERT', // 3 second contact
        'UCONTACT_DELETE', // 4 unREGISTER contact A
        'UCONTACT_DELETE', // 5 unREGISTER contact B ...
        'URECORD_DELETE', //   ... and the emptied record
        'URECORD_INSERT', // 6 bob
        'UCONTACT_INSERT',
      ],
    );
    const rec = m[0];
    assert.ok(rec?.type === 'URECORD_INSERT');
    assert.deepEqual(
      { ...rec.record, nextClabel: 0 },
      {
        domain: 'location',
        aor: alice,
        label: 0,
        nextClabel: 0,
        ...(v5 ? { kvStore: '' } : {}),
      },
    );

    const a1 = contactOf(m[1], 'UCONTACT_INSERT');
    const socket = a1.socket;
    // branch flag NAT: its name from UL_BIN_V4 on, its bit before
    const nat = a1.cflags;
    if (v5) assert.equal(nat, 'NAT');
    else assert.ok(typeof nat === 'number' && nat !== 0, `cflags ${String(nat)}`);
    assert.match(socket, /^udp:127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      { ...a1, contactId: 0n, expires: 0n, lastModified: 0n },
      {
        domain: 'location',
        aor: alice,
        contact: 'sip:alice@192.0.2.10:5062;transport=udp',
        contactId: 0n,
        callid: 'ca',
        userAgent: 'ulbridge-capture/1.0',
        path: '<sip:edge.example.com;lr>',
        attr: 'attr-a',
        received: 'sip:198.51.100.7:40000',
        instance: '<urn:uuid:00000000-0000-1000-8000-00aabbccddee>',
        expires: 0n,
        q: 500,
        socket,
        cseq: 1,
        flags: 0,
        cflags: nat,
        methods: 0xffffffff,
        lastModified: 0n,
        kvStore: '',
        match: { mode: -1 },
      },
    );
    assert.equal(a1.expires - a1.lastModified, 3600n);
    // the contact id packs the record's label and the label the record handed out next
    const id1 = unpackContactId(a1.contactId);
    assert.equal(id1.rlabel, rec.record.label);
    assert.equal(id1.clabel, rec.record.nextClabel);

    const a2 = contactOf(m[2], 'UCONTACT_UPDATE');
    assert.deepEqual({ ...a2, expires: 0n, lastModified: 0n }, { ...a1, cseq: 2, expires: 0n, lastModified: 0n });
    assert.equal(a2.expires - a2.lastModified, 1800n);

    const b = contactOf(m[3], 'UCONTACT_INSERT');
    assert.deepEqual(
      { ...b, expires: 0n, lastModified: 0n },
      {
        domain: 'location',
        aor: alice,
        contact: 'sip:alice@192.0.2.11:5060',
        contactId: a1.contactId + 1n,
        callid: 'cb',
        userAgent: 'n/a', // what registrar stores when the REGISTER has no User-Agent
        path: '',
        attr: '',
        received: '',
        instance: '',
        expires: 0n,
        q: -1,
        socket,
        cseq: 7,
        flags: 0,
        cflags: v5 ? '' : 0,
        methods: 0xffffffff,
        lastModified: 0n,
        kvStore: '',
        match: { mode: -1 },
      },
    );
    assert.equal(b.expires - b.lastModified, 600n);

    // a delete carries the CSeq the contact was stored with, not the unREGISTER's
    assert.deepEqual(m[4], {
      type: 'UCONTACT_DELETE',
      delete: { domain: 'location', aor: alice, contact: a1.contact, callid: 'ca', cseq: 2, match: { mode: -1 } },
    });
    assert.deepEqual(m[5], {
      type: 'UCONTACT_DELETE',
      delete: { domain: 'location', aor: alice, contact: b.contact, callid: 'cb', cseq: 7, match: { mode: -1 } },
    });
    assert.deepEqual(m[6], { type: 'URECORD_DELETE', domain: 'location', aor: alice });

    const bobRec = m[7];
    assert.ok(bobRec?.type === 'URECORD_INSERT');
    const bob = contactOf(m[8], 'UCONTACT_INSERT');
    assert.equal(bob.contact, 'sip:bob@192.0.2.20:5060');
    assert.equal(bob.callid, 'cc');
    assert.equal(bob.cseq, 1);
    assert.equal(bob.expires - bob.lastModified, 3600n);
    assert.equal(unpackContactId(bob.contactId).clabel, bobRec.record.nextClabel);
  });

for (const release of releases())
  test(`OpenSIPS ${release} capture: a joining node pulls bob by sync, and its copy gets the next contact label`, () => {
    const dir = join(ROOT, release);
    const extra = fixtures(release)
      .filter(({ f }) => f.capability === CL_EXTRA_CAP)
      .map(({ f }) => decodeClusterPacket(Buffer.from(f.hex, 'hex')));
    const req = extra.find((d) => d.kind === 'extra' && d.message.type === 'SYNC_REQ');
    const sync = extra.find((d) => d.kind === 'extra' && d.message.type === 'SYNC');
    const end = extra.find((d) => d.kind === 'extra' && d.message.type === 'SYNC_END');
    assert.ok(req?.kind === 'extra' && sync?.kind === 'extra' && end?.kind === 'extra');
    assert.deepEqual(req.message, { type: 'SYNC_REQ', capability: USRLOC_CAPABILITY });
    assert.equal(req.trailer.sourceId, 3);
    assert.ok(sync.message.type === 'SYNC' && end.message.type === 'SYNC_END');
    assert.equal(sync.trailer.destId, 3);
    assert.equal(sync.message.dataVersion, ulVersion(release));
    assert.deepEqual(end.message, { type: 'SYNC_END', capability: USRLOC_CAPABILITY, chunkCount: 2 });
    const chunks = decodeUsrlocSyncChunks(ulVersion(release), sync.message.chunks);
    assert.equal(chunks.length, 2);
    const [r, c] = chunks;
    assert.ok(r?.kind === 'urecord' && c?.kind === 'ucontact');
    const live = usrlocOf(release)[8];
    const bob = contactOf(live, 'UCONTACT_INSERT');
    // sync chunks: contact + Call-ID matching, the sender's socket only if it is its own
    assert.deepEqual(c.contact, { ...bob, socket: c.contact.socket, match: { mode: 1 } });
    // the record chunk's next_clabel is already past bob's label ...
    assert.equal(r.record.nextClabel, unpackContactId(bob.contactId).clabel + 1);
    // ... so receive_ucontact_insert() gives the synced copy the next label: node 3 holds another id
    const capture = JSON.parse(readFileSync(join(dir, 'capture.json'), 'utf8')) as {
      node2LocationTable: string[];
      ulDump: Record<string, { result: { Domains: Array<{ AORs: Array<{ AOR: string; Contacts: Array<{ ContactID: string }> }> }> } }>;
    };
    const idOf = (node: string): string => capture.ulDump[node]!.result.Domains[0]!.AORs[0]!.Contacts[0]!.ContactID;
    assert.equal(capture.node2LocationTable[0]?.split('|')[0], bob.contactId.toString());
    assert.equal(idOf('node1'), bob.contactId.toString());
    assert.equal(idOf('node2'), bob.contactId.toString());
    assert.equal(idOf('node3'), (bob.contactId + 1n).toString());
  });
