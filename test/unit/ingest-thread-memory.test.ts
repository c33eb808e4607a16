import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { INGEST_YOUNG_GENERATION_MB, ingestWorkerOptions } from '../../src/ingest/thread.js';
import type { IngestWorkerData } from '../../src/ingest/threadProtocol.js';

test('the ingest thread runs with a 12 MiB young generation (a 4 MiB semi-space instead of 16)', async () => {
  assert.equal(INGEST_YOUNG_GENERATION_MB, 12);
  const options = ingestWorkerOptions({ groupId: 'g' } as IngestWorkerData);
  // A thread started with the ingest's options reports the limits V8 applied to it.
  const probe = new Worker(
    "const { parentPort, resourceLimits, workerData } = require('node:worker_threads'); parentPort.postMessage({ resourceLimits, workerData });",
    { ...options, eval: true },
  );
  const [seen] = (await once(probe, 'message')) as [{ resourceLimits: { maxYoungGenerationSizeMb: number }; workerData: IngestWorkerData }];
  await probe.terminate();
  assert.equal(seen.resourceLimits.maxYoungGenerationSizeMb, 12);
  assert.deepEqual(seen.workerData, { groupId: 'g' });
});
