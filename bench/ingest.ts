import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Admin, type Batch, type Consumer, type ConsumerConfig, type IHeaders } from 'kafkajs';
import { createDecoder } from '../src/cdc/decoder.js';
import { createIngest } from '../src/ingest/index.js';
import { createLogProducer, sendAcknowledged } from '../src/log/producer.js';
import { ensureTopics } from '../src/log/topics.js';
import { Metrics } from '../src/ops/metrics.js';
import { silentLogger } from '../src/ops/logger.js';
import { measure, type BenchContext, type BenchFigure, type BenchSection } from './section.js';

/**
 * The ingest (Debezium topic -> registration log) beside its floor, in one run, on a real broker:
 *   floor:  a kafkajs consumer reading the same N Debezium messages and JSON.parse-ing each value
 *           (what any consumer of the topic pays at least);
 *   ingest: the real ingest stage (decode, Avro encode, idempotent produce with acks=all, commit),
 *           timed from start until its consumer group has committed the end of the topic;
 *   kafkajs alone: the same Debezium messages consumed, and the very log records the ingest wrote
 *           (read back from its log) produced with the log's producer settings and committed per
 *           batch, without decoding or encoding anything: what kafkajs costs for the ingest's
 *           traffic, so the ingest's own share is the difference.
 *   decoder alone: the same values decoded in process (createDecoder().decodeChange), beside
 *           JSON.parse of each: the decoder's own CPU cost, without Kafka's noise.
 * Both with Debezium's JSON converter value schemas on (~5 KB values, the default) and off.
 * Messages are the captured 2.1 PostgreSQL create event, with a distinct id/user per message.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

function messages(n: number, withSchema: boolean): Array<{ key: string; value: string }> {
  const fx = JSON.parse(readFileSync(`${root}test/fixtures/debezium/postgres-2.1-schemas-c.json`, 'utf8'));
  const out: Array<{ key: string; value: string }> = [];
  for (let i = 0; i < n; i++) {
    const value = structuredClone(fx.value);
    const p = value.payload;
    p.after.id = i + 1;
    p.after.username = `user${i % 70_000}`;
    p.after.callid = `call-${i}`;
    p.source.lsn = 26_567_616 + i;
    p.source.ts_ms = Date.now();
    out.push({
      key: JSON.stringify({ schema: fx.key.schema, payload: { id: i + 1 } }),
      value: JSON.stringify(withSchema ? value : value.payload),
    });
  }
  return out;
}

async function fill(kafka: Kafka, admin: Admin, topic: string, msgs: Array<{ key: string; value: string }>): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  // At most ~800 KB per request (the broker refuses requests over 1 MB by default).
  for (let i = 0; i < msgs.length; i += 150) await producer.send({ topic, messages: msgs.slice(i, i + 150) });
  await producer.disconnect();
}

/**
 * Runs a consumer of `topic` from its beginning until `handle` says it has seen enough; returns
 * the seconds from its first fetch request to then.
 */
async function consumeAll(
  kafka: Kafka,
  config: ConsumerConfig,
  topic: string,
  handle: (batch: Batch, consumer: Consumer) => Promise<boolean>,
  autoCommit = true,
): Promise<number> {
  const consumer = kafka.consumer(config);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        autoCommit,
        eachBatch: async ({ batch }) => {
          if (await handle(batch, consumer)) resolve();
        },
      })
      .catch(reject);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await consumer.disconnect();
  return seconds;
}

async function floor(kafka: Kafka, topic: string, n: number): Promise<number> {
  let seen = 0;
  const seconds = await consumeAll(kafka, { groupId: `${topic}.floor` }, topic, async (batch) => {
    for (const m of batch.messages) JSON.parse(m.value!.toString('utf8'));
    seen += batch.messages.length;
    return seen >= n;
  });
  return n / seconds;
}

async function ingest(kafka: Kafka, admin: Admin, topic: string, n: number): Promise<number> {
  const groupId = `${topic}.ingest`;
  const log = { topic: `${topic}.log`, partitions: 6, deadLetterTopic: `${topic}.dlq` };
  // The log topics exist before the clock starts, as they do after a bridge's first start (the
  // floor's clock likewise starts after its consumer connected).
  await ensureTopics(admin, log);
  const stage = createIngest({
    kafka,
    source: { name: 'legacy', release: '2.1', topic },
    log,
    groupId,
    logger: silentLogger,
    metrics: new Metrics(),
  });
  const started = process.hrtime.bigint();
  await stage.start();
  for (;;) {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = Number(offsets[0]?.partitions[0]?.offset ?? '-1');
    if (committed >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await stage.stop();
  return n / seconds;
}

interface LogRecordCopy {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  partition: number;
}

/** The records the ingest wrote to its log, in source order (offset order per partition is enough). */
async function readLog(kafka: Kafka, logTopic: string, n: number): Promise<LogRecordCopy[]> {
  const out: LogRecordCopy[] = [];
  await consumeAll(kafka, { groupId: `${logTopic}.read` }, logTopic, async (batch) => {
    for (const m of batch.messages) out.push({ key: m.key, value: m.value, headers: m.headers ?? {}, partition: batch.partition });
    return out.length >= n;
  });
  return out.slice(0, n);
}

/** kafkajs alone carrying the ingest's traffic: consume the CDC topic, produce the log records, commit. */
async function transport(kafka: Kafka, admin: Admin, topic: string, records: LogRecordCopy[]): Promise<number> {
  const log = { topic: `${topic}.transport`, partitions: 6, deadLetterTopic: `${topic}.transport.dlq` };
  await ensureTopics(admin, log);
  const producer = createLogProducer(kafka);
  await producer.connect();
  let seen = 0;
  const config = { groupId: `${topic}.transport`, maxBytesPerPartition: 8 << 20, maxBytes: 32 << 20 };
  const seconds = await consumeAll(
    kafka,
    config,
    topic,
    async (batch, consumer) => {
      const out = batch.messages.map((_, i) => records[seen + i]!).filter(Boolean);
      // Requests of 1,000 records, as the ingest sends them (maxRecordsPerSend).
      for (let i = 0; i < out.length; i += 1000) {
        await sendAcknowledged(producer, [{ topic: log.topic, messages: out.slice(i, i + 1000) }]);
      }
      seen += batch.messages.length;
      await consumer.commitOffsets([{ topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }]);
      return seen >= records.length;
    },
    false,
  );
  await producer.disconnect();
  await admin.deleteTopics({ topics: [log.topic, log.deadLetterTopic] }).catch(() => undefined);
  return records.length / seconds;
}

/** Values per second of fn over the values (section.ts's measure, after one untimed warm-up pass). */
function inProcessRate(values: readonly Buffer[], fn: (value: Buffer) => unknown): { perSecond: number; calls: number } {
  const pass = (): number => {
    for (const v of values) fn(v);
    return values.length;
  };
  pass();
  return measure(pass, 2000);
}

export const section: BenchSection = {
  name: 'ingest',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const n = Math.round(100_000 * ctx.scale);
    const kafka = new Kafka({ clientId: 'bench-ingest', brokers: await ctx.kafkaBrokers(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const figures: BenchFigure[] = [];
    try {
      for (const withSchema of [true, false]) {
        const label = withSchema ? 'with value schemas' : 'schemas off';
        const topic = `bench.ingest.${withSchema ? 's' : 'p'}.${process.pid}.${Date.now()}`;
        ctx.log(`ingest (${label}): producing ${n.toLocaleString('en-US')} Debezium messages`);
        const msgs = messages(n, withSchema);
        const values = msgs.map((m) => Buffer.from(m.value));
        const decoder = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
        const decoded = inProcessRate(values, (v) => decoder.decodeChange(v));
        const parsed = inProcessRate(values, (v) => JSON.parse(v.toString('utf8')));
        await fill(kafka, admin, topic, msgs);
        ctx.log(`ingest (${label}): floor, then the ingest`);
        const f = await floor(kafka, topic, n);
        const i = await ingest(kafka, admin, topic, n);
        const t = await transport(kafka, admin, topic, await readLog(kafka, `${topic}.log`, n));
        figures.push(
          {
            figure: `floor: consume + JSON.parse (${label})`,
            value: f,
            unit: 'events/s',
            note: `kafkajs consumer, ${n} messages, 1 partition`,
          },
          {
            figure: `ingest: CDC topic -> log (${label})`,
            value: i,
            unit: 'events/s',
            note: 'decode, Avro, idempotent produce acks=all, commit',
          },
          { figure: `ingest / floor (${label})`, value: i / f, unit: 'ratio', note: 'goal >= 0.5' },
          {
            figure: `kafkajs alone: consume + produce the log records (${label})`,
            value: t,
            unit: 'events/s',
            note: "the same messages in, the ingest's own log records out (idempotent, acks=all), commit per batch; no decoding",
          },
          { figure: `ingest / kafkajs alone (${label})`, value: i / t, unit: 'ratio', note: 'the share of the ingest that is not kafkajs' },
          {
            figure: `decoder alone (${label})`,
            value: decoded.perSecond,
            unit: 'events/s',
            note: `in process: createDecoder().decodeChange of the same ${n} values, ${decoded.calls} passes after a warm-up`,
          },
          {
            figure: `JSON.parse alone (${label})`,
            value: parsed.perSecond,
            unit: 'events/s',
            note: `in process: the same values, ${parsed.calls} passes after a warm-up`,
          },
          { figure: `decoder / JSON.parse (${label})`, value: decoded.perSecond / parsed.perSecond, unit: 'ratio', note: 'same run' },
        );
        await admin.deleteTopics({ topics: [topic, `${topic}.log`, `${topic}.dlq`] }).catch(() => undefined);
      }
    } finally {
      await admin.disconnect();
    }
    return figures;
  },
};
