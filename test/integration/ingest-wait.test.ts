import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createIngest } from '../../src/ingest/index.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { readTopic } from '../support/kafka.js';
import { kafkaBrokers } from '../support/services.js';
import { change, keyValue } from '../fixtures/debezium/handmade/build.js';

// Debezium creates its change topic with the first event: an ingest started before that waits for
// the topic instead of failing, and picks up the first event once it appears.

test('ingest waits for a Debezium topic that does not exist yet', async () => {
  const id = randomBytes(4).toString('hex');
  const kafka = new Kafka({ clientId: 'ingest-wait', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const cdcTopic = `wait.${id}.public.location`;
  const log = { topic: `wait.${id}.log`, partitions: 2, deadLetterTopic: `wait.${id}.dlq` };
  const ingest = createIngest({
    kafka,
    source: { name: 'legacy', release: '2.1', topic: cdcTopic },
    log,
    groupId: `wait-${id}`,
    logger: silentLogger,
    metrics: new Metrics(),
  });
  const starting = ingest.start();
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(ingest.status().state, 'starting', 'still waiting for the topic');

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: cdcTopic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  await starting;
  assert.equal(ingest.status().state, 'running');

  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: cdcTopic,
    messages: [
      {
        key: keyValue('2.1', 'postgresql', 7n, false),
        value: change({ release: '2.1', db: 'postgresql', op: 'c', key: 7n, schemas: false }),
      },
    ],
  });
  await producer.disconnect();
  const [record] = await readTopic(kafkaBrokers(), log.topic, 1);
  assert.equal(record!.key, 'legacy:7');
  await ingest.stop();
  assert.equal(ingest.status().state, 'stopped');
});

test('stopping an ingest that waits for its topic ends the wait', async () => {
  const id = randomBytes(4).toString('hex');
  const kafka = new Kafka({ clientId: 'ingest-wait', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const ingest = createIngest({
    kafka,
    source: { name: 'legacy', release: '2.1', topic: `never.${id}` },
    log: { topic: `never.${id}.log`, partitions: 1, deadLetterTopic: `never.${id}.dlq` },
    groupId: `never-${id}`,
    logger: silentLogger,
    metrics: new Metrics(),
  });
  const starting = ingest.start();
  await new Promise((r) => setTimeout(r, 1500));
  await ingest.stop();
  // Not a failure: the start ends with STOPPED and the ingest is stopped, with nothing left open.
  await assert.rejects(starting, (e: any) => e.code === 'STOPPED' && e.message === 'ingest "legacy" was stopped while starting');
  assert.deepEqual(ingest.status(), { state: 'stopped', error: null });
});
