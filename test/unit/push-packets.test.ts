/**
 * The cluster push's packets (src/push/packets.ts): a target row becomes, byte for byte, the usrloc
 * replication packet a real OpenSIPS 3.5, 3.6 and 4.0 registrar sent for the same contact (the
 * captured fixtures in test/fixtures/opensips-bin/), and the record packet that keeps the row's
 * labels at the receiver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeUsrlocPacket, encodeUsrlocPacket, type ContactFields } from '../../src/cluster/usrloc/index.js';
import { packContactId } from '../../src/opensips/contactId.js';
import type { RowImage } from '../../src/project/rowImage.js';
import { branchMask, packetsFor, type PacketOptions } from '../../src/push/packets.js';

const FIXTURES = 'test/fixtures/opensips-bin';
const BRANCH_FLAGS = ['NAT'];

/** The row a registrar's table holds for this contact (what ulbridge reads back after its commit). */
function rowOf(c: ContactFields): RowImage {
  const [username, domain] = c.aor.includes('@') ? c.aor.split('@') : [c.aor, null];
  const names = typeof c.cflags === 'string' ? c.cflags : BRANCH_FLAGS.filter((_, bit) => (c.cflags as number) & (1 << bit)).join(' ');
  return {
    contactId: c.contactId,
    username: username,
    domain: domain ?? null,
    contact: c.contact,
    received: c.received || null,
    path: c.path || null,
    expires: c.expires,
    q: c.q < 0 ? -1 : c.q / 1000,
    callid: c.callid,
    cseq: c.cseq,
    lastModified: c.lastModified,
    flags: c.flags,
    cflags: names || null,
    userAgent: c.userAgent,
    socket: c.socket || null,
    methods: c.methods === 0xffffffff ? null : c.methods,
    sipInstance: c.instance || null,
    kvStore: c.kvStore || null,
    attr: c.attr || null,
  };
}

for (const release of ['3.5', '3.6', '4.0']) {
  test(`OpenSIPS ${release}: each captured contact packet is rebuilt byte for byte from the row it describes`, () => {
    const dir = join(FIXTURES, release);
    let checked = 0;
    for (const f of readdirSync(dir).filter((n) => /-usrloc-UCONTACT_/.test(n))) {
      const captured = Buffer.from((JSON.parse(readFileSync(join(dir, f), 'utf8')) as { hex: string }).hex, 'hex');
      const { version, message, trailer } = decodeUsrlocPacket(captured);
      const o: PacketOptions = {
        version,
        domain: 'location',
        useDomain: release === '4.0',
        ...(version === 3 ? { branchFlags: BRANCH_FLAGS } : {}),
      };
      let ours;
      if (message.type === 'UCONTACT_DELETE') {
        const d = message.delete;
        const row = rowOf({ ...fakeContact(), aor: d.aor, contact: d.contact, callid: d.callid, cseq: d.cseq });
        ours = packetsFor({ op: 'delete', row }, o);
      } else if (message.type === 'UCONTACT_INSERT') {
        ours = packetsFor({ op: 'insert', row: rowOf(message.contact) }, o).slice(1);
      } else if (message.type === 'UCONTACT_UPDATE') {
        ours = packetsFor({ op: 'update', row: rowOf(message.contact) }, o);
      } else continue;
      assert.equal(ours.length, 1, f);
      const bytes = encodeUsrlocPacket({ version, message: ours[0]!, trailer });
      assert.equal(bytes.toString('hex'), captured.toString('hex'), `${release}/${f}`);
      checked++;
    }
    assert.ok(checked >= 5, `${checked} fixtures checked`);
  });
}

function fakeContact(): ContactFields {
  return {
    domain: 'location',
    aor: '',
    contact: '',
    contactId: 0n,
    callid: '',
    userAgent: '',
    path: '',
    attr: '',
    received: '',
    instance: '',
    expires: 0n,
    q: -1,
    socket: '',
    cseq: 0,
    flags: 0,
    cflags: '',
    methods: 0xffffffff,
    lastModified: 0n,
    kvStore: '',
  };
}

test("a new row's record packet carries its record label and, as next contact label, its own (the receiver keeps the row's id)", () => {
  const contactId = packContactId({ aorhash: 4242, rlabel: 131072, clabel: 7 });
  const row = { ...rowOf({ ...fakeContact(), aor: 'alice@example.com', contact: 'sip:a@192.0.2.1', callid: 'c1', cseq: 3 }), contactId };
  const v5 = packetsFor({ op: 'insert', row }, { version: 5, domain: 'location', useDomain: true });
  assert.deepEqual(v5[0], {
    type: 'URECORD_INSERT',
    record: { domain: 'location', aor: 'alice@example.com', label: 131072, nextClabel: 7, kvStore: '{}' },
  });
  const v3 = packetsFor({ op: 'insert', row }, { version: 3, domain: 'location', useDomain: false });
  assert.deepEqual(v3[0], { type: 'URECORD_INSERT', record: { domain: 'location', aor: 'alice', label: 131072, nextClabel: 7 } });
  assert.equal(v3[1]!.type, 'UCONTACT_INSERT');
});

test('branch flags become a 3.4/3.5 bitmask by the configured names; names not configured are reported, not guessed', () => {
  const unmapped = new Set<string>();
  assert.equal(branchMask('NAT  SIPTRACE', ['NAT', 'X', 'SIPTRACE'], unmapped), 0b101);
  assert.deepEqual([...unmapped], []);
  assert.equal(branchMask('NAT WEIRD', ['NAT'], unmapped), 1);
  assert.deepEqual([...unmapped], ['WEIRD']);
  assert.equal(branchMask(null, ['NAT']), 0);
});
