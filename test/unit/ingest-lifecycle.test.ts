import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EachBatchPayload, Kafka, ProducerBatch } from 'kafkajs';
import { createIngest } from '../../src/ingest/index.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { UlbridgeError } from '../../src/ops/errors.js';
import { AorPartitioner } from '../../src/log/partitioner.js';
import { change } from '../fixtures/debezium/handmade/build.js';

/**
 * A kafkajs stand-in that records the order of what ingest does; the real broker is exercised by
 * test/integration/ingest-kafka.test.ts.
 */
function fakeKafka(opts: { failSend?: boolean } = {}) {
  const calls: string[] = [];
  const sent: ProducerBatch[] = [];
  const committed: { topic: string; partition: number; offset: string }[] = [];
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | null = null;
  let runConfig: Record<string, unknown> = {};
  let producerConfig: Record<string, unknown> = {};
  let consumerConfig: Record<string, unknown> = {};
  // The Debezium change topic exists already (ingest waits for it otherwise).
  const topics: Record<string, number> = { 'legacy_pg.public.location': 1 };
  const kafka = {
    admin: () => ({
      connect: async () => calls.push('admin.connect'),
      disconnect: async () => calls.push('admin.disconnect'),
      listTopics: async () => Object.keys(topics),
      createTopics: async ({ topics: list }: { topics: { topic: string; numPartitions: number }[] }) => {
        for (const t of list) topics[t.topic] = t.numPartitions;
        calls.push(`createTopics ${list.map((t) => t.topic).join(',')}`);
        return true;
      },
      fetchTopicMetadata: async ({ topics: names }: { topics: string[] }) => ({
        topics: names.map((n) => ({ name: n, partitions: Array.from({ length: topics[n]! }, (_, i) => ({ partitionId: i })) })),
      }),
      describeConfigs: async () => ({ resources: [{ configEntries: [{ configName: 'cleanup.policy', configValue: 'compact' }] }] }),
    }),
    producer: (config: Record<string, unknown>) => {
      producerConfig = config;
      return {
        connect: async () => calls.push('producer.connect'),
        disconnect: async () => calls.push('producer.disconnect'),
        sendBatch: async (b: ProducerBatch) => {
          calls.push('sendBatch');
          if (opts.failSend) throw new Error('broker unavailable');
          sent.push(b);
          return [];
        },
      };
    },
    consumer: (config: Record<string, unknown>) => {
      consumerConfig = config;
      calls.push(`consumer ${JSON.stringify(config)}`);
      return {
        events: { CRASH: 'consumer.crash' },
        on: () => undefined,
        connect: async () => calls.push('consumer.connect'),
        subscribe: async (s: unknown) => calls.push(`subscribe ${JSON.stringify(s)}`),
        run: async (config: { eachBatch: (p: EachBatchPayload) => Promise<void> } & Record<string, unknown>) => {
          runConfig = config;
          eachBatch = config.eachBatch;
          calls.push('run');
        },
        commitOffsets: async () => {
          throw new Error('ingest must commit through the batch payload, which works while stopping');
        },
        disconnect: async () => calls.push('consumer.disconnect'),
      };
    },
  } as unknown as Kafka;
  return {
    kafka,
    calls,
    sent,
    committed,
    get eachBatch() {
      return eachBatch!;
    },
    get runConfig() {
      return runConfig;
    },
    get producerConfig() {
      return producerConfig;
    },
    consumerConfig: () => consumerConfig,
  };
}

function payload(
  calls: string[],
  committed: { topic: string; partition: number; offset: string }[],
  messages: { offset: number; key: string | null; value: string | null }[],
  highWatermark: string,
): EachBatchPayload {
  const kafkaMessages = messages.map((m) => ({
    offset: String(m.offset),
    key: m.key === null ? null : Buffer.from(m.key),
    value: m.value === null ? null : Buffer.from(m.value),
    timestamp: '0',
    attributes: 0,
    headers: {},
  }));
  return {
    batch: {
      topic: 'legacy_pg.public.location',
      partition: 0,
      highWatermark,
      messages: kafkaMessages,
    } as unknown as EachBatchPayload['batch'],
    resolveOffset: (o: string) => void calls.push(`resolve ${o}`),
    heartbeat: async () => void calls.push('heartbeat'),
    isStale: () => false,
    isRunning: () => true,
    pause: () => () => undefined,
    commitOffsetsIfNecessary: async (offsets?: { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }) => {
      assert.ok(offsets, 'explicit offsets');
      const t = offsets.topics[0]!;
      calls.push(`commit ${t.partitions[0]!.offset}`);
      committed.push({ topic: t.topic, partition: t.partitions[0]!.partition, offset: t.partitions[0]!.offset });
    },
    uncommittedOffsets: () => ({ topics: [] }),
  };
}

const options = (kafka: Kafka, metrics: Metrics, maxRecordsPerSend?: number, sessionTimeoutSeconds?: number) => ({
  kafka,
  source: { name: 'legacy', release: '2.2' as const, topic: 'legacy_pg.public.location', timeZone: 'UTC' },
  log: { topic: 'ulbridge.log', partitions: 4, deadLetterTopic: 'ulbridge.dlq' },
  groupId: 'ulbridge-ingest-legacy',
  logger: silentLogger,
  metrics,
  ...(maxRecordsPerSend === undefined ? {} : { maxRecordsPerSend }),
  ...(sessionTimeoutSeconds === undefined ? {} : { sessionTimeoutSeconds }),
});

const create = change({ release: '2.2', db: 'postgresql', op: 'c', schemas: false, key: 1n, source: { lsn: 10n, tsMs: 1719835200000n } });
const del = change({ release: '2.2', db: 'postgresql', op: 'd', schemas: false, key: 1n, source: { lsn: 11n, tsMs: 1719835201000n } });

test('start: topics, idempotent producer, manual-commit consumer from the beginning', async () => {
  const f = fakeKafka();
  const ingest = createIngest(options(f.kafka, new Metrics()));
  assert.deepEqual(ingest.status(), { state: 'idle', error: null });
  await ingest.start();
  assert.deepEqual(ingest.status(), { state: 'running', error: null });
  assert.deepEqual(f.calls, [
    'admin.connect',
    'createTopics ulbridge.log,ulbridge.dlq',
    'admin.disconnect',
    'producer.connect',
    'consumer {"groupId":"ulbridge-ingest-legacy","sessionTimeout":30000,"heartbeatInterval":3000,"rebalanceTimeout":60000,"allowAutoTopicCreation":false,"maxBytesPerPartition":8388608,"maxBytes":33554432,"retry":{"retries":5}}',
    'consumer.connect',
    'subscribe {"topics":["legacy_pg.public.location"],"fromBeginning":true}',
    'run',
  ]);
  assert.deepEqual(f.producerConfig, {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: AorPartitioner,
  });
  assert.equal(f.runConfig.autoCommit, false);
  assert.equal(f.runConfig.eachBatchAutoResolve, false);
  await assert.rejects(
    ingest.start(),
    (e: unknown) => e instanceof UlbridgeError && e.code === 'INVALID_STATE' && e.message === 'ingest "legacy" cannot start: it is running',
  );
  // kafkajs may restart a crashed consumer while the ingest runs, never once stop() began.
  const restartOnFailure = (f.consumerConfig().retry as { restartOnFailure: (e: Error) => Promise<boolean> }).restartOnFailure;
  assert.equal(await restartOnFailure(new Error('crash')), true);
  await ingest.stop();
  assert.equal(await restartOnFailure(new Error('crash while draining')), false);
});

test('kafka.sessionTimeoutSeconds reaches the consumer: heartbeats every third of it, the rebalance timeout never below it', async () => {
  const cases: Array<[number, Record<string, number>]> = [
    [8, { sessionTimeout: 8000, heartbeatInterval: 2666, rebalanceTimeout: 60_000 }],
    [120, { sessionTimeout: 120_000, heartbeatInterval: 3000, rebalanceTimeout: 120_000 }],
  ];
  for (const [seconds, expected] of cases) {
    const f = fakeKafka();
    const ingest = createIngest(options(f.kafka, new Metrics(), undefined, seconds));
    await ingest.start();
    const c = f.consumerConfig();
    assert.deepEqual(
      { sessionTimeout: c.sessionTimeout, heartbeatInterval: c.heartbeatInterval, rebalanceTimeout: c.rebalanceTimeout },
      expected,
    );
    await ingest.stop();
  }
});

test('a batch is produced (acks -1), then committed at last offset + 1, then resolved; metrics follow', async () => {
  const f = fakeKafka();
  const metrics = new Metrics();
  const ingest = createIngest(options(f.kafka, metrics));
  await ingest.start();
  f.calls.length = 0;
  await f.eachBatch(
    payload(
      f.calls,
      f.committed,
      [
        { offset: 40, key: '{"contact_id":1}', value: create },
        { offset: 41, key: '{"contact_id":1}', value: 'not json' },
        { offset: 42, key: '{"contact_id":1}', value: del },
        { offset: 43, key: '{"contact_id":1}', value: null },
      ],
      '50',
    ),
  );
  assert.deepEqual(f.calls, ['sendBatch', 'commit 44', 'resolve 43', 'heartbeat']);
  assert.equal(f.sent.length, 1);
  const batch = f.sent[0]!;
  assert.equal(batch.acks, -1);
  assert.deepEqual(
    batch.topicMessages!.map((t) => [t.topic, t.messages.map((m) => [m.key, m.value === null ? null : 'value'])]),
    [
      [
        'ulbridge.log',
        [
          ['legacy:1', 'value'],
          ['legacy:1', 'value'],
          ['legacy:1', null],
        ],
      ],
      ['ulbridge.dlq', [[Buffer.from('{"contact_id":1}'), 'value']]],
    ],
  );
  assert.deepEqual(f.committed, [{ topic: 'legacy_pg.public.location', partition: 0, offset: '44' }]);

  const values = async (name: keyof Metrics) =>
    (await (metrics[name] as { get(): Promise<{ values: { labels: object; value: number }[] }> }).get()).values.map((v) => [
      v.labels,
      v.value,
    ]);
  assert.deepEqual(await values('eventsIn'), [[{ stage: 'ingest', pipeline: 'legacy' }, 4]]);
  assert.deepEqual(await values('eventsOut'), [
    [{ stage: 'ingest', pipeline: 'legacy', outcome: 'upsert' }, 1],
    [{ stage: 'ingest', pipeline: 'legacy', outcome: 'delete' }, 1],
    [{ stage: 'ingest', pipeline: 'legacy', outcome: 'tombstone' }, 1],
    [{ stage: 'ingest', pipeline: 'legacy', outcome: 'dead_letter' }, 1],
  ]);
  assert.deepEqual(await values('deadLetters'), [[{ pipeline: 'legacy', reason: 'MALFORMED_JSON' }, 1]]);
  assert.deepEqual(await values('lag'), [[{ stage: 'ingest', pipeline: 'legacy', topic: 'legacy_pg.public.location', partition: '0' }, 6]]);
  assert.deepEqual(await values('lastEventAge'), [[{ stage: 'ingest', pipeline: 'legacy' }, 1719835201]]);
  const batchSeconds = await metrics.batchSeconds.get();
  assert.equal(batchSeconds.values.find((v) => v.metricName === 'ulbridge_batch_seconds_count')?.value, 1);
  await ingest.stop();
});

test('a failed produce commits nothing and fails the batch (kafkajs retries it from the last commit)', async () => {
  const f = fakeKafka({ failSend: true });
  const ingest = createIngest(options(f.kafka, new Metrics()));
  await ingest.start();
  f.calls.length = 0;
  await assert.rejects(f.eachBatch(payload(f.calls, f.committed, [{ offset: 7, key: null, value: create }], '8')), /broker unavailable/);
  assert.deepEqual(f.calls, ['sendBatch']);
  assert.deepEqual(f.committed, []);
  await ingest.stop();
});

test('large batches are produced and committed in chunks, in order', async () => {
  const f = fakeKafka();
  const ingest = createIngest(options(f.kafka, new Metrics(), 2));
  await ingest.start();
  f.calls.length = 0;
  await f.eachBatch(
    payload(
      f.calls,
      f.committed,
      [0, 1, 2, 3, 4].map((o) => ({ offset: o, key: null, value: create })),
      '5',
    ),
  );
  assert.deepEqual(f.calls, [
    'sendBatch',
    'commit 2',
    'resolve 1',
    'heartbeat',
    'sendBatch',
    'commit 4',
    'resolve 3',
    'heartbeat',
    'sendBatch',
    'commit 5',
    'resolve 4',
    'heartbeat',
  ]);
  await ingest.stop();
});

test('stop disconnects the consumer (which drains its batch) before the producer; it is idempotent', async () => {
  const f = fakeKafka();
  const ingest = createIngest(options(f.kafka, new Metrics()));
  await ingest.stop();
  assert.deepEqual(ingest.status(), { state: 'stopped', error: null });
  const g = fakeKafka();
  const running = createIngest(options(g.kafka, new Metrics()));
  await running.start();
  g.calls.length = 0;
  await running.stop();
  await running.stop();
  assert.deepEqual(g.calls, ['consumer.disconnect', 'producer.disconnect']);
  assert.deepEqual(running.status(), { state: 'stopped', error: null });
});
