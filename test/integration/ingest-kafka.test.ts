import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { createIngest, type Ingest } from '../../src/ingest/index.js';
import { decodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { kafkaBrokers } from '../support/services.js';
import { change, keyValue } from '../fixtures/debezium/handmade/build.js';

/**
 * Ingest against a real broker (the suite's stack: test/run.ts exports ULBRIDGE_TEST_KAFKA_BROKERS):
 * Debezium-shaped records go to a CDC topic, ingest runs, and the registration log and the
 * dead-letter topic are read back record by record — keys, partitions, headers, tombstones, exact
 * events — and the consumer group's committed offsets are checked, across a restart.
 */

const HAVE_KAFKA = !!process.env.ULBRIDGE_TEST_KAFKA_BROKERS;
const skip = HAVE_KAFKA ? false : 'needs ULBRIDGE_TEST_KAFKA_BROKERS (npm test starts Kafka)';

interface LogRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

function headerText(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
}

/** Reads every record of `topic` until `count` arrived, plus whatever follows within `settleMs`. */
async function readAll(kafka: Kafka, topic: string, count: number, settleMs = 1500): Promise<LogRecord[]> {
  const consumer = kafka.consumer({ groupId: `ulbridge-it-reader-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
  const out: LogRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${count} records from ${topic}`)), 60_000);
      let settling = false;
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          out.push({
            partition,
            offset: message.offset,
            key: message.key?.toString('utf8') ?? null,
            value: message.value,
            headers: headerText(message.headers),
          });
          if (out.length >= count && !settling) {
            settling = true;
            clearTimeout(timer);
            setTimeout(resolve, settleMs);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

const event = (value: Buffer | null): RegistrationEvent | null => (value === null ? null : structuredClone(decodeEvent(value)));

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('ingest: CDC topic -> registration log and dead-letter topic on a real broker', { skip, timeout: 240_000 }, async () => {
  const brokers = kafkaBrokers();
  const kafka = new Kafka({ clientId: 'ulbridge-it-ingest', brokers, logLevel: logLevel.NOTHING });
  const id = randomBytes(4).toString('hex');
  const cdcTopic = `it_${id}.public.location`;
  const logTopic = `it_${id}.registrations`;
  const dlqTopic = `it_${id}.registrations.dlq`;
  const groupId = `ulbridge-it-ingest-${id}`;
  const PARTITIONS = 3;

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: cdcTopic, numPartitions: 2 }], waitForLeaders: true });

  // Debezium-shaped change records: binding 1 (alice@example.com) and 2 (bob@example.org) on CDC
  // partition 0, binding 3 (alice@example.com, a second contact of the same AOR) on partition 1.
  const k = (n: bigint) => keyValue('2.2', 'postgresql', n, true);
  const c = (op: 'r' | 'c' | 'u' | 'd' | 't', key: bigint, lsn: bigint, row: Record<string, string | bigint | null> = {}) =>
    change({ release: '2.2', db: 'postgresql', op, schemas: true, key, source: { lsn, snapshot: op === 'r' ? 'true' : 'false' }, row });
  const bob = { username: 'Bob', domain: 'example.ORG' };
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: cdcTopic,
    messages: [
      { partition: 0, key: k(1n), value: c('r', 1n, 100n) },
      { partition: 0, key: k(2n), value: c('c', 2n, 110n, bob) },
      { partition: 0, key: k(2n), value: '{"op":' },
      { partition: 0, key: k(1n), value: c('d', 1n, 120n) },
      { partition: 0, key: k(1n), value: null }, // Debezium's tombstone after the delete
      { partition: 1, key: k(3n), value: c('c', 3n, 105n, { contact: 'sip:alice@203.0.113.5' }) },
      { partition: 1, key: null, value: c('t', 0n, 130n) },
    ],
  });

  const metrics = new Metrics();
  const options = {
    kafka,
    source: { name: 'legacy', release: '2.2' as const, topic: cdcTopic, timeZone: 'Europe/Berlin', caseSensitive: false },
    log: { topic: logTopic, partitions: PARTITIONS, deadLetterTopic: dlqTopic },
    groupId,
    logger: silentLogger,
    metrics,
  };
  let ingest: Ingest = createIngest(options);
  try {
    await ingest.start();
    assert.equal(ingest.status().state, 'running');

    // 1 read + 1 create + (delete + tombstone) + 1 create + 3 truncate copies = 8 log records.
    const log = await readAll(kafka, logTopic, 8);
    const alicePartition = partitionFor('alice@example.com', PARTITIONS);
    const bobPartition = partitionFor('bob@example.org', PARTITIONS);

    const base = {
      name: 'legacy',
      release: '2.2',
      connector: 'POSTGRESQL' as const,
      table: 'public.location',
      snapshot: false,
      tsMs: 1719835200000n,
    };
    const reg = {
      username: 'alice',
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5060;transport=udp',
      received: 'sip:198.51.100.7:40112',
      path: null,
      expires: 1719828000n,
      q: 0.5,
      callid: 'a84b4c76e66710@pc33.example.com',
      cseq: 314159,
      lastModified: 1719824400n,
      flags: 0,
      cflags: 'NAT SIPPING',
      userAgent: 'Linphone/5.2',
      socket: 'udp:192.0.2.1:5060',
      methods: null,
      sipInstance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
      kvStore: null,
      attr: null,
    };
    const truncate: RegistrationEvent = {
      op: 'TRUNCATE',
      source: { ...base, rowKey: 0n, position: { major: 130n, minor: 1n, seq: 0n } },
      registration: null,
    };
    const aliceHeaders = { 'ulbridge-aor': 'alice@example.com' };
    const expected = [
      // Per log partition, in the order ingest produced them.
      {
        partition: alicePartition,
        key: 'legacy:1',
        headers: aliceHeaders,
        event: {
          op: 'UPSERT',
          source: { ...base, snapshot: true, rowKey: 1n, position: { major: 100n, minor: 0n, seq: 0n } },
          registration: reg,
        },
      },
      {
        partition: alicePartition,
        key: 'legacy:1',
        headers: aliceHeaders,
        event: { op: 'DELETE', source: { ...base, rowKey: 1n, position: { major: 120n, minor: 1n, seq: 0n } }, registration: reg },
      },
      { partition: alicePartition, key: 'legacy:1', headers: aliceHeaders, event: null },
      {
        partition: alicePartition,
        key: 'legacy:3',
        headers: aliceHeaders,
        event: {
          op: 'UPSERT',
          source: { ...base, rowKey: 3n, position: { major: 105n, minor: 1n, seq: 0n } },
          registration: { ...reg, contact: 'sip:alice@203.0.113.5' },
        },
      },
      {
        partition: bobPartition,
        key: 'legacy:2',
        headers: { 'ulbridge-aor': 'bob@example.org' },
        event: {
          op: 'UPSERT',
          source: { ...base, rowKey: 2n, position: { major: 110n, minor: 1n, seq: 0n } },
          registration: { ...reg, username: 'bob', domain: 'example.org' },
        },
      },
      ...[0, 1, 2].map((p) => ({ partition: p, key: 'legacy:truncate', headers: {}, event: truncate })),
    ];
    // CDC partitions 0 and 1 are consumed independently, so records of different bindings may
    // interleave within a log partition; each binding's records (one key) keep their CDC order.
    const byKey = <T extends { partition: number; key: string | null }>(list: T[]): T[] =>
      [...list].sort((a, b) => a.partition - b.partition || (a.key! < b.key! ? -1 : a.key! > b.key! ? 1 : 0)); // stable
    assert.deepEqual(
      byKey(log.map((r) => ({ partition: r.partition, key: r.key, headers: r.headers, event: event(r.value) }))),
      byKey(expected),
      'log records',
    );
    // The truncate follows binding 3's create in their shared CDC partition, so also in the log.
    const aliceKeys = log.filter((r) => r.partition === alicePartition).map((r) => r.key);
    assert.ok(aliceKeys.indexOf('legacy:3') < aliceKeys.indexOf('legacy:truncate'), aliceKeys.join(' '));

    // Dead letters: the malformed record, verbatim.
    const dlq = await readAll(kafka, dlqTopic, 1);
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]!.key, k(2n));
    assert.deepEqual(dlq[0]!.headers, { 'ulbridge-stage': 'ingest', 'ulbridge-pipeline': 'legacy', 'ulbridge-reason': 'MALFORMED_JSON' });
    assert.deepEqual(JSON.parse(dlq[0]!.value!.toString('utf8')), {
      stage: 'ingest',
      pipeline: 'legacy',
      reason: 'MALFORMED_JSON',
      message: "value is not valid JSON: Object value expected after ':' at position 6",
      source: { topic: cdcTopic, partition: 0, offset: '2' },
      key: k(2n),
      keyEncoding: 'text',
      value: '{"op":',
      valueEncoding: 'text',
    });

    // Offsets are committed after the produce: the group stands at the end of both partitions.
    const committed = async () =>
      (await admin.fetchOffsets({ groupId, topics: [cdcTopic] }))[0]!.partitions.map((p) => [p.partition, p.offset]).sort();
    await waitFor(
      async () =>
        JSON.stringify(await committed()) ===
        JSON.stringify([
          [0, '5'],
          [1, '2'],
        ]),
      'committed offsets 5 and 2',
    );

    const outcomes = (await metrics.eventsOut.get()).values.map((v) => [v.labels.outcome, v.value]).sort();
    assert.deepEqual(outcomes, [
      ['dead_letter', 1],
      ['delete', 1],
      ['tombstone', 1],
      ['truncate', 1],
      ['upsert', 3],
    ]);

    await ingest.stop();
    assert.deepEqual(ingest.status(), { state: 'stopped', error: null });

    // A restart resumes after the committed offsets: one new change gives exactly one new record.
    await producer.send({ topic: cdcTopic, messages: [{ partition: 1, key: k(3n), value: c('u', 3n, 140n, { cseq: 314160n }) }] });
    ingest = createIngest(options);
    await ingest.start();
    const after = await readAll(kafka, logTopic, 9);
    assert.equal(after.length, 9, 'nothing was produced twice');
    const last = after.filter((r) => r.partition === alicePartition).at(-1)!;
    assert.equal(last.key, 'legacy:3');
    assert.deepEqual(event(last.value), {
      op: 'UPSERT',
      source: { ...base, rowKey: 3n, position: { major: 140n, minor: 1n, seq: 0n } },
      registration: { ...reg, cseq: 314160 },
    });
    await waitFor(
      async () =>
        JSON.stringify(await committed()) ===
        JSON.stringify([
          [0, '5'],
          [1, '3'],
        ]),
      'committed offsets 5 and 3',
    );
  } finally {
    await ingest.stop();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [cdcTopic, logTopic, dlqTopic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

test(
  'stop() drains: what is in the log is exactly what was committed, and a restart adds no duplicates',
  { skip, timeout: 240_000 },
  async () => {
    const kafka = new Kafka({ clientId: 'ulbridge-it-ingest-drain', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const id = randomBytes(4).toString('hex');
    const cdcTopic = `it_${id}.public.location`;
    const logTopic = `it_${id}.registrations`;
    const dlqTopic = `it_${id}.registrations.dlq`;
    const groupId = `ulbridge-it-drain-${id}`;
    const TOTAL = 3000;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: cdcTopic, numPartitions: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    for (let start = 1; start <= TOTAL; start += 500) {
      const messages = Array.from({ length: 500 }, (_, i) => {
        const key = BigInt(start + i);
        return {
          key: keyValue('2.4', 'mysql', key, false),
          value: change({
            release: '2.4',
            db: 'mysql',
            op: 'c',
            schemas: false,
            key,
            source: { pos: 1000n + key },
            row: { username: `user${key}` },
          }),
        };
      });
      await producer.send({ topic: cdcTopic, messages });
    }
    const options = {
      kafka,
      source: { name: 'legacy', release: '2.4' as const, topic: cdcTopic },
      log: { topic: logTopic, partitions: 4, deadLetterTopic: dlqTopic },
      groupId,
      logger: silentLogger,
      metrics: new Metrics(),
      maxRecordsPerSend: 50,
    };
    const logCount = async () => (await admin.fetchTopicOffsets(logTopic)).reduce((n, p) => n + Number(p.high), 0);
    const committed = async () => Number((await admin.fetchOffsets({ groupId, topics: [cdcTopic] }))[0]!.partitions[0]!.offset);
    let ingest = createIngest(options);
    try {
      await ingest.start();
      await waitFor(async () => (await logCount()) > 0, 'the first log records');
      await ingest.stop();
      const c = await committed();
      assert.ok(c > 0, `committed ${c}`);
      assert.equal(await logCount(), c, 'every produced record is committed and every committed one produced');

      ingest = createIngest({ ...options, metrics: new Metrics() });
      await ingest.start();
      await waitFor(async () => (await committed()) === TOTAL, `committed offset ${TOTAL}`);
      assert.equal(await logCount(), TOTAL, 'no record produced twice');
    } finally {
      await ingest.stop();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [cdcTopic, logTopic, dlqTopic] }).catch(() => undefined);
      await admin.disconnect();
    }
  },
);
