import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EachBatchPayload } from 'kafkajs';
import { SNAPSHOT_LINGER_MS, snapshotLingerMs, valueBytes } from '../../src/ops/snapshotLinger.js';
import { emptyBatchResult } from '../../src/project/batchSteps.js';
import type { BatchInput, BatchResult } from '../../src/project/batch.js';
import { fakeProjection } from '../support/fakeProjection.js';

/**
 * A stage keeping up with a Debezium snapshot waits before its next fetch, so the snapshot comes
 * in fewer, larger batches (src/ops/snapshotLinger.ts); streaming changes never wait. The ingest's
 * side is in ingest-pipeline.test.ts.
 */

test('the rule: only a batch of snapshot reads alone, under half the fetch limit, is followed by a wait', () => {
  const limit = 512 * 1024;
  assert.equal(snapshotLingerMs({ records: 40, snapshotReads: 40, bytes: 16_000 }, limit), SNAPSHOT_LINGER_MS);
  assert.equal(snapshotLingerMs({ records: 40, snapshotReads: 39, bytes: 16_000 }, limit), 0, 'one streaming change: latency first');
  assert.equal(snapshotLingerMs({ records: 0, snapshotReads: 0, bytes: 0 }, limit), 0, 'nothing processed');
  assert.equal(
    snapshotLingerMs({ records: 900, snapshotReads: 900, bytes: limit / 2 }, limit),
    0,
    'a full-ish fetch: behind, fetch at once',
  );
  assert.equal(snapshotLingerMs({ records: 900, snapshotReads: 900, bytes: limit / 2 - 1 }, limit), SNAPSHOT_LINGER_MS);
  assert.equal(valueBytes([{ value: Buffer.alloc(3) }, { value: null }, { value: Buffer.alloc(4) }]), 7);
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function rig(result: (b: BatchInput) => BatchResult) {
  const { projection, eachBatch } = fakeProjection({ result });
  const payload = (offsets: number[], running = true): EachBatchPayload =>
    ({
      batch: {
        topic: 'ulbridge.log',
        partition: 0,
        highWatermark: String(offsets.at(-1)! + 1),
        fetchedOffset: String(offsets[0]),
        lastOffset: () => String(offsets.at(-1)),
        messages: offsets.map((o) => ({ offset: String(o), key: Buffer.from('legacy:1'), value: Buffer.alloc(300) })),
      },
      heartbeat: async () => undefined,
      isRunning: () => running,
      isStale: () => false,
    }) as unknown as EachBatchPayload;
  return { projection, payload, eachBatch };
}

test('behind a snapshot the projection waits SNAPSHOT_LINGER_MS after the COMMIT; after changes, or while stopping, it does not', async (t) => {
  let snapshot = true;
  const r = rig((b) => {
    const out = emptyBatchResult();
    out.processed = out.applied = b.messages.length;
    out.snapshotReads = snapshot ? b.messages.length : 0;
    out.nextOffset = b.endOffset!;
    return out;
  });
  await r.projection.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const run = async (offsets: number[], running = true) => {
    let done = false;
    const batch = r
      .eachBatch()(r.payload(offsets, running))
      .then(() => {
        done = true;
      });
    for (let i = 0; i < 5; i++) await tick();
    return { batch, done: () => done };
  };
  const reads = await run([0, 1, 2]);
  assert.equal(reads.done(), false, 'snapshot reads: applied, then waiting');
  t.mock.timers.tick(SNAPSHOT_LINGER_MS - 1);
  await tick();
  assert.equal(reads.done(), false);
  t.mock.timers.tick(1);
  await reads.batch;
  assert.equal((await run([3, 4], false)).done(), true, 'stopping: no wait');
  snapshot = false;
  assert.equal((await run([5, 6])).done(), true, 'changes: the next fetch at once');
  t.mock.timers.reset();
  await r.projection.stop();
});
