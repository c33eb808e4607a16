import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchPosition, emptyBatchResult, splitBatch } from '../../src/project/batchSteps.js';
import { encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';

const event = (op: 'UPSERT' | 'TRUNCATE', rowKey: bigint, snapshot = false): RegistrationEvent => ({
  op,
  source: {
    name: 'legacy',
    release: '2.1',
    connector: 'MYSQL',
    table: 'opensips.location',
    rowKey,
    position: { major: 1n, minor: 4n, seq: 1n },
    snapshot,
    tsMs: 0n,
  },
  registration:
    op === 'TRUNCATE'
      ? null
      : {
          username: 'callee',
          domain: null,
          contact: 'sip:callee@192.0.2.1',
          received: null,
          path: null,
          expires: 0n,
          q: 1,
          callid: 'c',
          cseq: 1,
          lastModified: 0n,
          flags: 0,
          cflags: null,
          userAgent: '',
          socket: null,
          methods: null,
          sipInstance: null,
          kvStore: null,
          attr: null,
        },
});

test('splitBatch: skips offsets below the stored one, dead-letters undecodable values, splits at TRUNCATE, keeps tombstones', () => {
  const result = emptyBatchResult();
  const { steps } = splitBatch(
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
  // Decoded events are the codec's record instances: compare what the writers read of them.
  const shape = steps.map((st) =>
    st.kind === 'truncate'
      ? ['truncate', st.event.op]
      : st.items.map((i) => [i.offset, i.binding, i.event?.op ?? null, i.event?.source.rowKey ?? null]),
  );
  assert.deepEqual(shape, [
    [
      ['5', 'legacy:1', 'UPSERT', 1n],
      ['6', 'legacy:9', null, null],
    ],
    ['truncate', 'TRUNCATE'],
    [['9', 'legacy:2', 'UPSERT', 2n]],
  ]);
  assert.deepEqual(
    { processed: result.processed, alreadyApplied: result.alreadyApplied, tombstones: result.tombstones },
    { processed: 5, alreadyApplied: 1, tombstones: 1 },
  );
  assert.equal(result.snapshotReads, 0);
  assert.deepEqual(
    result.deadLetters.map((d) => [d.reason, d.offset]),
    [['UNDECODABLE_LOG_EVENT', '7']],
  );
});

test('splitBatch counts the snapshot reads it processes (not those below the stored offset, nor tombstones or dead letters)', () => {
  const result = emptyBatchResult();
  splitBatch(
    [
      { offset: '4', key: Buffer.from('legacy:1'), value: encodeEvent(event('UPSERT', 1n, true)) },
      { offset: '5', key: Buffer.from('legacy:1'), value: encodeEvent(event('UPSERT', 1n, true)) },
      { offset: '6', key: Buffer.from('legacy:2'), value: encodeEvent(event('UPSERT', 2n, true)) },
      { offset: '7', key: Buffer.from('legacy:9'), value: null },
      { offset: '8', key: Buffer.from('legacy:3'), value: Buffer.from('junk') },
      { offset: '9', key: Buffer.from('legacy:3'), value: encodeEvent(event('UPSERT', 3n)) },
    ],
    5n,
    result,
  );
  assert.deepEqual({ processed: result.processed, snapshotReads: result.snapshotReads }, { processed: 5, snapshotReads: 2 });
});

test('splitBatch: a batch wholly below the stored offset has no steps', () => {
  const result = emptyBatchResult();
  assert.deepEqual(splitBatch([{ offset: '1', key: null, value: null }], 2n, result), { steps: [] });
  assert.equal(result.alreadyApplied, 1);
});

const at = (...offsets: number[]) => offsets.map((o) => ({ offset: String(o), key: null, value: null }));

test('batchPosition: a batch fetched from above the stored next offset is a gap, never applied', () => {
  // The consumer resumed from Kafka's group offset 5000 while the rebuilt target stores 0.
  assert.deepEqual(batchPosition({ messages: at(5000, 5001), fetchedOffset: '5000' }, 0n), { gap: true, next: null });
  // Without a fetch offset, the first message's offset stands for it.
  assert.deepEqual(batchPosition({ messages: at(8, 9) }, 7n), { gap: true, next: null });
  // One above is a gap too: offset 7 would be skipped.
  assert.deepEqual(batchPosition({ messages: at(8), fetchedOffset: '8' }, 7n), { gap: true, next: null });
});

test('batchPosition: fetched at or below the stored offset; compaction holes and trailing filtered records are not gaps', () => {
  assert.deepEqual(batchPosition({ messages: at(7, 8), fetchedOffset: '7' }, 7n), { gap: false, next: 9n });
  // Fetched from 7, compaction removed 7..11: the first record is 12.
  assert.deepEqual(batchPosition({ messages: at(12, 13), fetchedOffset: '7' }, 7n), { gap: false, next: 14n });
  // Redelivery of an older fetch: overlaps the stored offset.
  assert.deepEqual(batchPosition({ messages: at(3, 4, 5, 6, 7, 8), fetchedOffset: '3' }, 7n), { gap: false, next: 9n });
  // Wholly below: nothing to store.
  assert.deepEqual(batchPosition({ messages: at(3, 4), fetchedOffset: '3' }, 7n), { gap: false, next: null });
  // The consumer's end of the batch (a control record at 9) is stored, so its next fetch (from 10) is no gap.
  assert.deepEqual(batchPosition({ messages: at(7, 8), fetchedOffset: '7', endOffset: '10' }, 7n), { gap: false, next: 10n });
});
