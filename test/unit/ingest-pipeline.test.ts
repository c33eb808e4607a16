import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EachBatchPayload, Kafka, ProducerBatch } from 'kafkajs';
import { CommitChain, createIngest } from '../../src/ingest/index.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { SNAPSHOT_LINGER_MS } from '../../src/ops/snapshotLinger.js';
import { change } from '../fixtures/debezium/handmade/build.js';

/**
 * The ingest's pipeline (src/ingest/ingest.ts handleBatch): a chunk's offset commit travels beside
 * the next chunk's produce, but a chunk is produced only after the previous one was acknowledged,
 * commits go out in offset order one at a time, and nothing is committed past an unacknowledged
 * record. Broker round trips are held open by hand (deferred promises) to observe the overlap.
 */

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function rig() {
  const events: string[] = [];
  const sends: Deferred[] = [];
  const commits: Deferred[] = [];
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | null = null;
  const kafka = {
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      listTopics: async () => ['legacy_pg.public.location', 'ulbridge.log', 'ulbridge.dlq'],
      createTopics: async () => true,
      fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({
        topics: topics.map((name) => ({ name, partitions: [0, 1, 2, 3].map((partitionId) => ({ partitionId })) })),
      }),
      describeConfigs: async () => ({ resources: [{ configEntries: [{ configName: 'cleanup.policy', configValue: 'compact' }] }] }),
    }),
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async (b: ProducerBatch) => {
        const n = b.topicMessages!.reduce((s, t) => s + t.messages.length, 0);
        events.push(`send ${sends.length} (${n} records)`);
        const d = deferred();
        sends.push(d);
        await d.promise;
        events.push(`acked ${sends.indexOf(d)}`);
        return [];
      },
    }),
    consumer: () => ({
      events: { CRASH: 'consumer.crash' },
      on: () => undefined,
      connect: async () => undefined,
      subscribe: async () => undefined,
      run: async (c: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => {
        eachBatch = c.eachBatch;
      },
      disconnect: async () => undefined,
    }),
  } as unknown as Kafka;
  const value = (op: 'c' | 'r') =>
    change({ release: '2.2', db: 'postgresql', op, schemas: false, key: 1n, source: { lsn: 10n, tsMs: 1n } });
  const payload = (offsets: number[], op: 'c' | 'r' = 'c', running = true): EachBatchPayload =>
    ({
      batch: {
        topic: 'legacy_pg.public.location',
        partition: 0,
        highWatermark: String(offsets[offsets.length - 1]! + 1),
        messages: offsets.map((o) => ({
          offset: String(o),
          key: null,
          value: Buffer.from(value(op)),
          timestamp: '0',
          attributes: 0,
          headers: {},
        })),
      },
      resolveOffset: (o: string) => void events.push(`resolve ${o}`),
      heartbeat: async () => undefined,
      isStale: () => false,
      isRunning: () => running,
      pause: () => () => undefined,
      commitOffsetsIfNecessary: async (offsets?: { topics: { partitions: { offset: string }[] }[] }) => {
        const next = offsets!.topics[0]!.partitions[0]!.offset;
        events.push(`commit ${next}`);
        const d = deferred();
        commits.push(d);
        await d.promise;
        events.push(`committed ${next}`);
      },
      uncommittedOffsets: () => ({ topics: [] }),
    }) as unknown as EachBatchPayload;
  const ingest = createIngest({
    kafka,
    source: { name: 'legacy', release: '2.2', topic: 'legacy_pg.public.location' },
    log: { topic: 'ulbridge.log', partitions: 4, deadLetterTopic: 'ulbridge.dlq' },
    groupId: 'g',
    logger: silentLogger,
    metrics: new Metrics(),
    maxRecordsPerSend: 2,
  });
  return { events, sends, commits, ingest, payload, eachBatch: () => eachBatch! };
}

test("a chunk's commit travels beside the next chunk's produce; one produce at a time; commits in order", async () => {
  const r = rig();
  await r.ingest.start();
  let done = false;
  const batch = r
    .eachBatch()(r.payload([0, 1, 2, 3, 4]))
    .then(() => {
      done = true;
    });
  await tick();
  assert.deepEqual(r.events, ['send 0 (2 records)'], 'chunk 2 is not produced before chunk 1 is acknowledged');
  r.sends[0]!.resolve();
  await tick();
  // Chunk 1 acknowledged: its commit is issued, and chunk 2 is produced while that commit is in flight.
  assert.deepEqual(r.events, ['send 0 (2 records)', 'acked 0', 'commit 2', 'resolve 1', 'send 1 (2 records)']);
  r.sends[1]!.resolve();
  await tick();
  // Chunk 2 acknowledged while chunk 1's commit is still open: its commit waits for it.
  assert.deepEqual(r.events.slice(5), ['acked 1', 'resolve 3', 'send 2 (1 records)']);
  r.commits[0]!.resolve();
  await tick();
  assert.deepEqual(r.events.slice(8), ['committed 2', 'commit 4']);
  r.sends[2]!.resolve();
  await tick();
  assert.equal(done, false, 'the batch returns only when every commit completed');
  r.commits[1]!.resolve();
  await tick();
  r.commits[2]!.resolve();
  await batch;
  assert.deepEqual(r.events.slice(10), ['acked 2', 'resolve 4', 'committed 4', 'commit 5', 'committed 5']);
  await r.ingest.stop();
});

test('a failed produce fails the batch after the earlier commits settle, and nothing past it is committed or produced', async () => {
  const r = rig();
  await r.ingest.start();
  const batch = r.eachBatch()(r.payload([0, 1, 2, 3, 4]));
  const failed = assert.rejects(batch, /not leader/);
  await tick();
  r.sends[0]!.resolve();
  await tick();
  r.sends[1]!.reject(new Error('not leader'));
  await tick();
  assert.deepEqual(r.events, ['send 0 (2 records)', 'acked 0', 'commit 2', 'resolve 1', 'send 1 (2 records)']);
  r.commits[0]!.resolve();
  await failed;
  assert.deepEqual(r.events.slice(5), ['committed 2']);
  assert.equal(r.sends.length, 2, 'chunk 3 never produced');
  await r.ingest.stop();
});

test('CommitChain: issued at once when idle, else after the previous; the first failure stops later commits and is thrown', async () => {
  const log: string[] = [];
  const gates = new Map<string, Deferred>();
  const chain = new CommitChain(async (next) => {
    log.push(`start ${next}`);
    const d = deferred();
    gates.set(next, d);
    await d.promise;
    log.push(`end ${next}`);
  });
  chain.commit('1');
  assert.deepEqual(log, ['start 1']);
  chain.commit('2');
  chain.commit('3');
  await tick();
  assert.deepEqual(log, ['start 1']);
  gates.get('1')!.resolve();
  await tick();
  assert.deepEqual(log, ['start 1', 'end 1', 'start 2']);
  gates.get('2')!.reject(new Error('rebalance'));
  await assert.rejects(chain.drain(), /rebalance/);
  assert.deepEqual(log, ['start 1', 'end 1', 'start 2'], 'commit 3 is not issued after a failure');
  chain.commit('4');
  assert.deepEqual(log, ['start 1', 'end 1', 'start 2']);
});

test('behind a snapshot the ingest waits SNAPSHOT_LINGER_MS before its next fetch; after changes, or while stopping, it does not', async (t) => {
  const r = rig();
  await r.ingest.start();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const settle = async (offsets: number[], op: 'c' | 'r', running = true) => {
    let done = false;
    const batch = r
      .eachBatch()(r.payload(offsets, op, running))
      .then(() => {
        done = true;
      });
    await tick();
    r.sends.at(-1)!.resolve();
    await tick();
    r.commits.at(-1)!.resolve();
    for (let i = 0; i < 5; i++) await tick();
    return { batch, done: () => done };
  };
  const reads = await settle([0, 1], 'r');
  assert.equal(reads.done(), false, 'snapshot reads: committed, then waiting');
  t.mock.timers.tick(SNAPSHOT_LINGER_MS - 1);
  await tick();
  assert.equal(reads.done(), false);
  t.mock.timers.tick(1);
  await reads.batch;
  const changes = await settle([2, 3], 'c');
  assert.equal(changes.done(), true, 'changes: the next fetch at once');
  const stopping = await settle([4, 5], 'r', false);
  assert.equal(stopping.done(), true, 'stopping: no wait');
  assert.deepEqual(
    r.events.filter((e) => e.startsWith('committed')),
    ['committed 2', 'committed 4', 'committed 6'],
  );
  await r.ingest.stop();
});
