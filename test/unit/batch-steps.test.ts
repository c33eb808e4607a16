import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyBatchResult, splitBatch } from '../../src/project/batchSteps.js';
import { encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';

const event = (op: 'UPSERT' | 'TRUNCATE', rowKey: bigint): RegistrationEvent => ({
  op,
  source: { name: 'legacy', release: '2.1', connector: 'MYSQL', table: 'opensips.location', rowKey, position: { major: 1n, minor: 4n, seq: 1n }, snapshot: false, tsMs: 0n },
  registration: op === 'TRUNCATE' ? null : {
    username: 'callee', domain: null, contact: 'sip:callee@192.0.2.1', received: null, path: null, expires: 0n, q: 1, callid: 'c', cseq: 1,
    lastModified: 0n, flags: 0, cflags: null, userAgent: '', socket: null, methods: null, sipInstance: null, kvStore: null, attr: null,
  },
});

test('splitBatch: skips offsets below the stored one, dead-letters undecodable values, splits at TRUNCATE, keeps tombstones', () => {
  const result = emptyBatchResult();
  const { steps, last } = splitBatch(
    [
      { offset: '4', key: Buffer.from('legacy:1'), value: encodeEvent(event('UPSERT', 1n)) },
      { offset: '5', key: Buffer.from('legacy:1'), value: encodeEvent(event('UPSERT', 1n)) },
      { offset: '6', key: Buffer.from('legacy:9'), value: null },
      { offset: '7', key: Buffer.from('legacy:3'), value: Buffer.from('junk') },
      { offset: '8', key: Buffer.from('legacy:truncate'), value: encodeEvent(event('TRUNCATE', 0n)) },
      { offset: '9', key: null, value: encodeEvent(event('UPSERT', 2n)) },
    ],
    5n,
    result,
  );
  assert.equal(last, 9n);
  // Decoded events are the codec's record instances: compare what the writers read of them.
  const shape = steps.map((st) => (st.kind === 'truncate' ? ['truncate', st.event.op] : st.items.map((i) => [i.offset, i.binding, i.event?.op ?? null, i.event?.source.rowKey ?? null])));
  assert.deepEqual(shape, [
    [['5', 'legacy:1', 'UPSERT', 1n], ['6', 'legacy:9', null, null]],
    ['truncate', 'TRUNCATE'],
    [['9', 'legacy:2', 'UPSERT', 2n]],
  ]);
  assert.deepEqual({ processed: result.processed, alreadyApplied: result.alreadyApplied, tombstones: result.tombstones }, { processed: 5, alreadyApplied: 1, tombstones: 1 });
  assert.deepEqual(result.deadLetters.map((d) => [d.reason, d.offset]), [['UNDECODABLE_LOG_EVENT', '7']]);
});

test('splitBatch: a batch wholly below the stored offset has no steps and no last offset', () => {
  const result = emptyBatchResult();
  assert.deepEqual(splitBatch([{ offset: '1', key: null, value: null }], 2n, result), { steps: [], last: null });
  assert.equal(result.alreadyApplied, 1);
});
