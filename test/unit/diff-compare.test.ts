import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BINDING_FIELDS, bindingSlot, type BindingSet, type BindingTuple } from '../../src/verify/bindingSet.js';
import { changedFields, compareBindingSets, renderDiffHuman, slotDifferences, slotStats, type DiffReport } from '../../src/verify/diff.js';
import { diffOptions } from '../../src/cli/diff.js';

const base: BindingTuple = {
  username: 'alice',
  domain: 'example.com',
  contact: 'sip:alice@10.0.0.1:5060',
  received: null,
  path: null,
  expires: 2000000000,
  q: 1,
  callid: 'c1@10.0.0.1',
  cseq: 7,
  lastModified: 1900000000,
  flags: 0,
  cflags: null,
  userAgent: 'UA',
  socket: 'udp:192.0.2.10:5060',
  methods: null,
  sipInstance: null,
  attr: null,
};
const key = (t: BindingTuple): string => JSON.stringify(BINDING_FIELDS.map((f) => t[f]));
const opts = { hashSize: 2, useDomain: false, signedness: 'signed' as const, details: 5 };

function set(tuples: BindingTuple[], perSlot: number[] = [], expired = 0): BindingSet {
  const live = new Map<string, number>();
  for (const t of tuples) live.set(key(t), (live.get(key(t)) ?? 0) + 1);
  const slots = new Uint32Array(4); // hash_size 2: 4 slots
  perSlot.forEach((n, i) => (slots[i] = n));
  return { rows: tuples.length + expired, expired, live, perSlot: slots };
}

test('per-slot: the slot of an AOR is core_hash & (2^hash_size - 1), as `ulbridge hash` prints it', () => {
  // README: `ulbridge hash --hash-size 9 callee` -> CORE_HASH 1864304298, SLOT 170.
  assert.equal(bindingSlot('callee', null, { hashSize: 9, useDomain: false, signedness: 'signed' }), 1864304298 & 511);
  assert.equal(bindingSlot('callee', null, { hashSize: 9, useDomain: false, signedness: 'signed' }), 170);
  // use_domain hashes user@domain.
  assert.notEqual(
    bindingSlot('callee', 'example.com', { hashSize: 16, useDomain: true, signedness: 'signed' }),
    bindingSlot('callee', 'example.com', { hashSize: 16, useDomain: false, signedness: 'signed' }),
  );
});

test('slotStats and slotDifferences', () => {
  assert.deepEqual(slotStats(Uint32Array.from([0, 3, 0, 1])), { usedSlots: 2, maxPerSlot: 3 });
  assert.deepEqual(slotStats(new Uint32Array(4)), { usedSlots: 0, maxPerSlot: 0 });
  const a = Uint32Array.from([1, 2, 3, 4, 5]);
  const b = Uint32Array.from([1, 0, 3, 5, 4]);
  assert.deepEqual(slotDifferences(a, b), {
    differing: 3,
    differences: [
      { slot: 1, source: 2, target: 0 },
      { slot: 3, source: 4, target: 5 },
      { slot: 4, source: 5, target: 4 },
    ],
  });
  assert.deepEqual(slotDifferences(a, b, 1), { differing: 3, differences: [{ slot: 1, source: 2, target: 0 }] });
  assert.throws(() => slotDifferences(a, new Uint32Array(4)), /differ in size/);
});

test('equal multisets compare equal; a binding held twice on one side is a difference of one', () => {
  const bob = { ...base, username: 'bob', contact: 'sip:bob@h', callid: 'c2' };
  const eq = compareBindingSets(set([base, bob], [2]), set([bob, base], [2]), opts);
  assert.equal(eq.equal, true);
  assert.deepEqual([eq.onlyInSource, eq.onlyInTarget, eq.changed, eq.perSlot.differing], [0, 0, 0, 0]);
  const twice = compareBindingSets(set([base, base, bob], [3]), set([base, bob], [2]), opts);
  assert.equal(twice.equal, false);
  assert.deepEqual([twice.onlyInSource, twice.onlyInTarget, twice.changed], [1, 0, 0]);
  assert.deepEqual(twice.examples.onlyInSource, [base]);
  assert.deepEqual(twice.perSlot.differences, [{ slot: 0, source: 3, target: 2 }]);
});

test('one field changed: paired by AOR and contact, shown field by field', () => {
  const changed = { ...base, cseq: 8, expires: 2000000100 };
  const r = compareBindingSets(set([base]), set([changed]), opts);
  assert.deepEqual([r.onlyInSource, r.onlyInTarget, r.changed], [1, 1, 1]);
  assert.deepEqual(r.examples.changed, [
    {
      username: 'alice',
      domain: 'example.com',
      contact: base.contact,
      fields: { expires: { source: 2000000000, target: 2000000100 }, cseq: { source: 7, target: 8 } },
    },
  ]);
  assert.deepEqual([r.examples.onlyInSource, r.examples.onlyInTarget], [[], []], 'a changed pair is listed once, as a change');
  assert.deepEqual(changedFields(base, base), {});
  // Another contact of the same AOR is not a "change": it is one binding missing and one extra.
  const other = compareBindingSets(set([base]), set([{ ...base, contact: 'sip:alice@10.0.0.2' }]), opts);
  assert.deepEqual([other.onlyInSource, other.onlyInTarget, other.changed], [1, 1, 0]);
  assert.deepEqual([other.examples.onlyInSource.length, other.examples.onlyInTarget.length], [1, 1]);
  // details 0: counts only.
  const quiet = compareBindingSets(set([base]), set([changed]), { ...opts, details: 0 });
  assert.deepEqual(quiet.examples, { onlyInSource: [], onlyInTarget: [], changed: [] });
});

test('the JSON document: field names and the human summary', () => {
  const cmp = compareBindingSets(set([base]), set([{ ...base, cseq: 8 }]), opts);
  const side = {
    db: 'postgres://u:***@h/db',
    dialect: 'postgres' as const,
    table: 'location',
    release: '4.0' as const,
    timeZone: 'UTC',
    caseSensitive: true,
    rows: 1,
    live: 1,
    expired: 0,
  };
  const report: DiffReport = {
    equal: cmp.equal,
    now: 1900000000,
    source: { ...side, release: '2.1', dialect: 'mysql', caseSensitive: false },
    target: side,
    onlyInSource: cmp.onlyInSource,
    onlyInTarget: cmp.onlyInTarget,
    changed: cmp.changed,
    perSlot: cmp.perSlot,
    examples: cmp.examples,
  };
  const doc = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(doc), [
    'equal',
    'now',
    'source',
    'target',
    'onlyInSource',
    'onlyInTarget',
    'changed',
    'perSlot',
    'examples',
  ]);
  assert.deepEqual(Object.keys(doc.perSlot), [
    'hashSize',
    'slots',
    'useDomain',
    'signedness',
    'source',
    'target',
    'differing',
    'differences',
  ]);
  assert.deepEqual(Object.keys(doc.examples), ['onlyInSource', 'onlyInTarget', 'changed']);
  const text = renderDiffHuman(report);
  assert.match(text, /"alice"@"example\.com" "sip:alice@10\.0\.0\.1:5060": cseq 7 -> 8/);
  assert.match(text, /result: different: 1 only in source, 1 only in target, 1 changed$/);
  assert.match(
    renderDiffHuman({
      ...report,
      equal: true,
      onlyInSource: 0,
      onlyInTarget: 0,
      changed: 0,
      examples: { onlyInSource: [], onlyInTarget: [], changed: [] },
    }),
    /result: equal: 1 live binding on each side$/,
  );
});

test('CLI options are validated before any connection', () => {
  const o = {
    source: 'postgres://a@h/db',
    sourceTable: 'location',
    sourceRelease: '2.1',
    sourceTimezone: 'UTC',
    target: 'mysql://b@h/db',
    targetTable: 'location',
    targetRelease: '4.0',
    targetTimezone: 'UTC',
    hashSize: '12',
    details: '5',
  };
  const parsed = diffOptions({ ...o, now: '1900000000' });
  assert.equal(parsed.hashSize, 12);
  assert.equal(parsed.now, 1900000000);
  assert.equal(parsed.source.caseSensitive, false);
  assert.equal(parsed.target.caseSensitive, true, 'the target is compared as stored');
  assert.throws(() => diffOptions({ ...o, hashSize: '17' }), { code: 'BAD_HASH_SIZE' });
  assert.throws(() => diffOptions({ ...o, details: '-1' }), { code: 'BAD_DETAILS' });
});
