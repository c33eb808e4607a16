import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createIngestThread } from '../../src/ingest/thread.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { readTopic, squatGroup } from '../support/kafka.js';
import { kafkaBrokers } from '../support/services.js';
import { change, keyValue } from '../fixtures/debezium/handmade/build.js';

/**
 * The ingest in its own worker thread (what `ulbridge run` starts), on a real broker: the same
 * Ingest lifecycle as in-process, its metric updates in the main thread's registry, its start
 * errors with their code and text, a stop while it waits for its topic not a failure.
 */

const HAVE_KAFKA = !!process.env.ULBRIDGE_TEST_KAFKA_BROKERS;
const skip = HAVE_KAFKA ? false : 'needs ULBRIDGE_TEST_KAFKA_BROKERS (npm test starts Kafka)';

/** Fresh topic and group names; the CDC topic is created when `withTopic`; an ingest thread on them. */
async function fixture(opts: { withTopic: boolean; timeZone?: string; brokers?: string[] }) {
  const id = randomBytes(4).toString('hex');
  const brokers = opts.brokers ?? kafkaBrokers();
  const kafka = new Kafka({ clientId: 'ingest-thread-test', brokers, logLevel: logLevel.NOTHING });
  const cdcTopic = `thread_${id}.public.location`;
  if (opts.withTopic) {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: cdcTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
  }
  const log = { topic: `thread_${id}.log`, partitions: 2, deadLetterTopic: `thread_${id}.dlq` };
  const groupId = `thread-${id}`;
  const metrics = new Metrics();
  const ingest = createIngestThread({
    brokers,
    clientId: 'ingest-thread',
    source: { name: 'legacy', release: '2.1', topic: cdcTopic, ...(opts.timeZone ? { timeZone: opts.timeZone } : {}) },
    log,
    groupId,
    logger: silentLogger,
    metrics,
  });
  return { kafka, brokers, cdcTopic, log, groupId, metrics, ingest };
}

test(
  'an ingest thread decodes into the log; its metrics land in the main registry; stop drains it',
  { skip, timeout: 120_000 },
  async () => {
    const { kafka, brokers, cdcTopic, log, metrics, ingest } = await fixture({ withTopic: true });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: cdcTopic,
      messages: [
        {
          key: keyValue('2.1', 'postgresql', 7n, false),
          value: change({ release: '2.1', db: 'postgresql', op: 'c', key: 7n, schemas: false }),
        },
        { key: keyValue('2.1', 'postgresql', 8n, false), value: '{"op":' },
      ],
    });
    await producer.disconnect();

    assert.deepEqual(ingest.status(), { state: 'idle', error: null });
    await ingest.start();
    assert.deepEqual(ingest.status(), { state: 'running', error: null });
    const [record] = await readTopic(brokers, log.topic, 1, { settleMs: 500 });
    assert.equal(record!.key, 'legacy:7');
    await ingest.stop();
    assert.deepEqual(ingest.status(), { state: 'stopped', error: null });

    // Every update the worker made arrived before its 'stopped': the counts are final.
    const values = async (m: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> }) =>
      (await m.get()).values.map((v) => [v.labels, v.value]);
    const labels = { stage: 'ingest', pipeline: 'legacy' };
    assert.deepEqual(await values(metrics.eventsIn), [[labels, 2]]);
    assert.deepEqual(
      (await values(metrics.eventsOut)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        [{ ...labels, outcome: 'dead_letter' }, 1],
        [{ ...labels, outcome: 'upsert' }, 1],
      ],
    );
    assert.deepEqual(await values(metrics.deadLetters), [[{ pipeline: 'legacy', reason: 'MALFORMED_JSON' }, 1]]);
    assert.deepEqual(await values(metrics.lag), [[{ ...labels, topic: cdcTopic, partition: '0' }, 0]]);
  },
);

test('an ingest thread stopped while it waits for its topic: STOPPED, not a failure', { skip, timeout: 60_000 }, async () => {
  const { ingest } = await fixture({ withTopic: false });
  const starting = ingest.start();
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(ingest.status().state, 'starting');
  const ended = assert.rejects(starting, (e: any) => e.code === 'STOPPED' && e.message === 'ingest "legacy" was stopped while starting');
  await ingest.stop();
  await ended;
  assert.deepEqual(ingest.status(), { state: 'stopped', error: null });
});

test('an ingest thread whose start fails: the coded error, and the stage failed through stop()', { timeout: 60_000 }, async () => {
  // Refused before any connection: no broker needed.
  const { ingest } = await fixture({ withTopic: false, brokers: ['127.0.0.1:9'], timeZone: 'Mars/Olympus' });
  const message = 'ingest source "legacy": time zone "Mars/Olympus" is not an IANA zone name (e.g. UTC, Europe/Berlin)';
  await assert.rejects(ingest.start(), (e: any) => e.code === 'CONFIG_INVALID' && e.message === message && e.exitCode === 2);
  assert.deepEqual(ingest.status(), { state: 'failed', error: message });
  await ingest.stop();
  assert.deepEqual(ingest.status(), { state: 'failed', error: message });
  await assert.rejects(
    ingest.start(),
    (e: any) => e.code === 'INVALID_STATE' && e.message === 'ingest "legacy" cannot start: it is failed',
  );
});

test(
  'an ingest thread whose consumer fails for good after start: the stage is failed, with the reason',
  { skip, timeout: 120_000 },
  async () => {
    const { kafka, cdcTopic, groupId, ingest } = await fixture({ withTopic: true });
    // Another application holds the ingest's consumer group: its join is refused, not retriable.
    const squatter = await squatGroup(kafka, groupId, cdcTopic);
    try {
      const heard: string[] = [];
      ingest.onFailure((message) => heard.push(message));
      await ingest.start();
      const t0 = Date.now();
      while (ingest.status().state !== 'failed' && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 200));
      const message = "The group member's supported protocols are incompatible with those of existing members";
      assert.deepEqual(ingest.status(), { state: 'failed', error: message });
      assert.deepEqual(heard, [message]);
      await ingest.stop();
      assert.deepEqual(ingest.status(), { state: 'failed', error: message });
    } finally {
      await ingest.stop();
      await squatter.disconnect().catch(() => undefined);
    }
  },
);
