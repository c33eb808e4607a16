import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { coreHash, aorHash } from '../../src/opensips/coreHash.js';
import { slotOf } from '../../src/opensips/hashSize.js';
import { packContactId, unpackContactId, type ClabelPacking } from '../../src/opensips/contactId.js';

const fixture = (name: string): any => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));

const hashVectors = fixture('opensips-core-hash.json').vectors as any[];
const idVectors = fixture('opensips-contact-id.json').vectors as any[];

test('the fixtures hold every golden vector', () => {
  assert.equal(hashVectors.length, 210);
  assert.equal(idVectors.length, 65);
});

test('core_hash matches all 210 OpenSIPS vectors with signed char', () => {
  for (const v of hashVectors) {
    const bytes = Buffer.from(v.hex, 'hex');
    assert.equal(bytes.length, v.length, `vector ${v.id} length`);
    const h = coreHash(bytes, 'signed');
    assert.equal(h, v.core_hash, `vector ${v.id} (${v.text_c_escaped}) core_hash`);
    assert.equal(aorHash(bytes, 'signed'), v.contact_id_aorhash['2.2.0-4.0.x'], `vector ${v.id} aorhash`);
    assert.equal(h & 0x7fffffff, v.core_hash_31bit, `vector ${v.id} 31-bit`);
    for (const [bits, masked] of Object.entries(v.masked_by_log2_size)) {
      assert.equal(h & (2 ** Number(bits) - 1), masked, `vector ${v.id} masked ${bits}`);
    }
    for (const [hashSize, slot] of Object.entries(v.ul_slot_by_hash_size_param)) {
      assert.equal(slotOf(h, Number(hashSize)), slot, `vector ${v.id} slot at hash_size ${hashSize}`);
    }
  }
});

test('core_hash matches all 210 OpenSIPS vectors with unsigned char', () => {
  let differing = 0;
  for (const v of hashVectors) {
    const bytes = Buffer.from(v.hex, 'hex');
    const u = v.unsigned_char_build;
    assert.equal(coreHash(bytes, 'unsigned'), u.core_hash, `vector ${v.id} unsigned core_hash`);
    assert.equal(aorHash(bytes, 'unsigned'), u.contact_id_aorhash, `vector ${v.id} unsigned aorhash`);
    assert.equal(coreHash(bytes, 'unsigned') !== coreHash(bytes, 'signed'), u.differs_from_signed_char);
    if (u.differs_from_signed_char) differing++;
  }
  assert.ok(differing > 0, 'the vectors include AORs whose hash depends on char signedness');
});

const PACKING: Record<string, ClabelPacking> = {
  '2.2.0-3.1.1': 'unmasked',
  '3.1.2+,3.2.0-3.5.x': 'masked',
  '3.6.0+,4.0.x': 'masked',
};

test('pack_indexes matches every pack vector in every version group', () => {
  let cases = 0;
  for (const v of idVectors.filter((x) => x.kind === 'pack')) {
    for (const [group, out] of Object.entries<any>(v.by_version)) {
      const packing = PACKING[group];
      assert.ok(packing, `unknown version group ${group}`);
      const id = packContactId(v.input, packing);
      assert.equal(id.toString(), out.contact_id, `${v.label} @ ${group}`);
      assert.deepEqual(unpackContactId(id), out.unpacked, `${v.label} @ ${group} unpack`);
      cases++;
    }
  }
  assert.equal(cases, 51 * 3);
});

test('unpack_indexes matches every unpack vector, from unsigned and signed BIGINT forms', () => {
  for (const v of idVectors.filter((x) => x.kind === 'unpack')) {
    assert.deepEqual(unpackContactId(BigInt(v.contact_id)), v.unpacked, v.label);
    assert.deepEqual(unpackContactId(BigInt(v.as_signed_bigint)), v.unpacked, `${v.label} (signed)`);
  }
});

test('the 2.2 log-line example decodes as documented', () => {
  assert.equal(coreHash(Buffer.from('callee')), 1864304298);
  assert.equal(slotOf(1864304298, 9), 170);
  assert.deepEqual(unpackContactId(120051833657672447n), { aorhash: 1706, rlabel: 168218419, clabel: 767 });
});
