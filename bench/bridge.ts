import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Kafka, logLevel } from 'kafkajs';
import { Workload } from '../src/demo/workload.js';
import { createLocationTableSql } from '../src/db/ddl.js';
import { postgresDialect } from '../src/db/dialect.js';
import { logRecords } from '../src/log/messages.js';
import { createLogProducer } from '../src/log/producer.js';
import { ensureTopics } from '../src/log/topics.js';
import type { RegistrationEvent } from '../src/log/event.js';
import { releaseProfile } from '../src/opensips/releases.js';
import { packContactId } from '../src/opensips/contactId.js';
import { aorIdentity, compileTarget } from '../src/project/target.js';
import { targetColumns, targetRowValues } from '../src/project/targetRow.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';

/**
 * The projection (registration log -> 4.0 table in PostgreSQL), run as a real `ulbridge run`
 * child process, beside the floor measured in the same run: a raw COPY of the same rows into a
 * table of the same shape. Phases:
 *   1. produce N UPSERT events (N = 1M at --scale 1; 0.7 N AORs) into a fresh log topic;
 *   2. floor: COPY the N rows the projection will write into an identical table;
 *   3. throughput: `ulbridge run` with one projection; time from its first committed batch to
 *      the last offset; its peak RSS (VmHWM) read from /proc;
 *   4. latency: a second projection, events produced at a fixed 5,000/s for 20 s with source
 *      time = produce time; p50/p99 of the apply latency histogram scraped from /metrics.
 */

const PARTITIONS = 6;
const RATE = 5000;
const PACED_SECONDS = 20;
const root = fileURLToPath(new URL('..', import.meta.url));

function events(n: number, now: number, name: string): RegistrationEvent[] {
  const w = new Workload(11, () => now);
  const aors = Math.round(n * 0.7);
  const out: RegistrationEvent[] = [];
  for (let i = 0; i < n; i++) out.push(eventFor(w, i, i < aors ? i : i % aors, BigInt(i + 1), name, 0n));
  return out;
}

function eventFor(w: Workload, row: number, aor: number, position: bigint, name: string, tsMs: bigint): RegistrationEvent {
  const r = w.registration(aor);
  return {
    op: 'UPSERT',
    source: {
      name,
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey: BigInt(row + 1),
      position: { major: position, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs,
    },
    registration: {
      username: r.username.toLowerCase(),
      domain: r.domain,
      contact: r.contact,
      received: r.received,
      path: r.path,
      expires: BigInt(r.expires),
      q: r.q,
      callid: r.callid,
      cseq: r.cseq,
      lastModified: BigInt(r.lastModified),
      flags: r.flags,
      cflags: r.cflags,
      userAgent: r.userAgent,
      socket: r.socket,
      methods: r.methods,
      sipInstance: r.sipInstance,
      kvStore: null,
      attr: r.attr,
    },
  };
}

async function produce(kafka: Kafka, topic: string, evs: RegistrationEvent[]): Promise<void> {
  const producer = createLogProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < evs.length; i += 2000) {
      const messages = evs.slice(i, i + 2000).flatMap((e) => logRecords(e, PARTITIONS));
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

const tsvEscape = (v: unknown): string =>
  v === null || v === undefined ? '\\N' : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');

/**
 * The floor: COPY of exactly the rows the projection writes (same columns, same converted values
 * from targetRowValues, ids with one record label per AOR and contact labels counting per AOR)
 * into an identical table.
 */
async function copyFloor(client: pg.Client, evs: RegistrationEvent[]): Promise<number> {
  const target = compileTarget({
    name: 'floor',
    db: '',
    table: 'location_floor',
    release: '4.0',
    hashSize: 9,
    useDomain: false,
    signedness: 'signed',
    timeZone: 'UTC',
    stateSchema: 'floor',
  });
  const cols = targetColumns(target);
  const labels = new Map<string, { rlabel: number; next: number }>();
  function* lines(): Generator<string> {
    let chunk: string[] = [];
    for (let i = 0; i < evs.length; i++) {
      const r = evs[i]!.registration!;
      const id = aorIdentity(target, r.username, r.domain);
      let l = labels.get(id.key);
      if (!l) labels.set(id.key, (l = { rlabel: 131072 + labels.size, next: 0 }));
      const contactId = packContactId({ aorhash: id.aorhash, rlabel: l.rlabel, clabel: l.next++ });
      chunk.push(targetRowValues(target, contactId, r).map(tsvEscape).join('\t'));
      if (chunk.length === 5000) {
        yield chunk.join('\n') + '\n';
        chunk = [];
      }
    }
    if (chunk.length) yield chunk.join('\n') + '\n';
  }
  const text = [...lines()]; // built before the clock starts: the floor times PostgreSQL only
  const start = process.hrtime.bigint();
  await pipeline(Readable.from(text), client.query(copyFrom(`COPY location_floor (${cols.join(', ')}) FROM STDIN`)));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function startBridge(configFile: string): ChildProcess {
  // ULBRIDGE_BENCH_CHILD_ARGS: extra node flags for the child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const extra = (process.env.ULBRIDGE_BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(process.execPath, [...extra, '--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', '--config', configFile], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ULBRIDGE_LOG_LEVEL: 'warn' },
  });
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

async function appliedOffsets(client: pg.Client, schema: string): Promise<{ total: number; firstAt: boolean }> {
  const { rows } = await client
    .query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n, count(*)::int AS c FROM ${schema}.offsets`)
    .catch(() => ({ rows: [{ n: 0, c: 0 }] }));
  return { total: Number(rows[0].n), firstAt: Number(rows[0].c) > 0 && Number(rows[0].n) > 0 };
}

/** Quantile from a Prometheus histogram text, interpolated within the bucket (histogram_quantile). */
export function histogramQuantile(metricsText: string, name: string, q: number): number {
  const buckets: Array<[number, number]> = [];
  const re = new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\d+(?:\\.\\d+)?)$`, 'gm');
  for (const m of metricsText.matchAll(re)) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  client: pg.Client,
  schema: string,
  total: number,
  child: ChildProcess,
): Promise<{ seconds: number; peakMiB: number }> {
  let startedAt: bigint | null = null;
  let peakMiB = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ulbridge run exited with ${child.exitCode} before applying every event`);
    const { total: done, firstAt } = await appliedOffsets(client, schema);
    if (firstAt && startedAt === null) startedAt = process.hrtime.bigint();
    peakMiB = Math.max(peakMiB, peakRssMiB(child.pid!));
    if (done >= total) break;
    await sleep(100);
  }
  return { seconds: Number(process.hrtime.bigint() - (startedAt ?? process.hrtime.bigint())) / 1e9, peakMiB };
}

export const section: BenchSection = {
  name: 'bridge',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const n = Math.round(1_000_000 * ctx.scale);
    const pgUrl = await ctx.postgresUrl();
    const brokers = await ctx.kafkaBrokers();
    const stamp = Date.now().toString(36);
    const dbName = `bench_bridge_${stamp}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const dbUrl = Object.assign(new URL(pgUrl), { pathname: `/${dbName}` }).toString();
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    const kafka = new Kafka({ clientId: 'ulbridge-bench', brokers, logLevel: logLevel.NOTHING });
    const dir = mkdtempSync(join(tmpdir(), 'ulbridge-bench-'));
    const children: ChildProcess[] = [];
    try {
      const profile = releaseProfile('4.0');
      for (const table of ['location', 'location_floor', 'location_paced']) {
        for (const sql of createLocationTableSql(profile, postgresDialect, table)) await client.query(sql);
      }
      const topic = `bench.registrations.${stamp}`;
      const pacedTopic = `bench.paced.${stamp}`;
      const kadmin = kafka.admin();
      await kadmin.connect();
      await ensureTopics(kadmin, { topic, partitions: PARTITIONS, deadLetterTopic: `${topic}.dlq` });
      await ensureTopics(kadmin, { topic: pacedTopic, partitions: PARTITIONS, deadLetterTopic: `${pacedTopic}.dlq` });
      await kadmin.disconnect();

      ctx.log(`bridge: generating and producing ${n.toLocaleString('en')} events`);
      const evs = events(n, Math.floor(Date.now() / 1000), 'bench');
      await produce(kafka, topic, evs);

      ctx.log('bridge: floor (raw COPY of the same rows)');
      const copySeconds = await copyFloor(client, evs);
      evs.length = 0;

      const config = (t: string, table: string, schema: string, port: number): string => {
        const file = join(dir, `${schema}.json`);
        writeFileSync(
          file,
          JSON.stringify({
            kafka: { brokers },
            log: { topic: t, partitions: PARTITIONS, deadLetterTopic: `${t}.dlq` },
            targets: [{ name: schema, db: dbUrl, table, release: '4.0', hashSize: 9, stateSchema: schema }],
            http: { port },
          }),
        );
        return file;
      };

      ctx.log('bridge: throughput (ulbridge run, one projection)');
      const child = startBridge(config(topic, 'location', 'bench_throughput', 0));
      children.push(child);
      const thr = await waitFor(client, 'bench_throughput', n, child);
      await stopChild(child);

      ctx.log(`bridge: latency at a fixed ${RATE.toLocaleString('en')} events/s for ${PACED_SECONDS} s`);
      const port = 19000 + Math.floor(Math.random() * 1000);
      const paced = startBridge(config(pacedTopic, 'location_paced', 'bench_paced', port));
      children.push(paced);
      const producer = createLogProducer(kafka);
      await producer.connect();
      const w = new Workload(23);
      // Warm-up: one event per partition, applied before the clock starts, so the child has
      // compiled, joined its group and holds every partition.
      const warm: RegistrationEvent[] = [];
      for (let i = 0; warm.length < 200; i++) warm.push(eventFor(w, 10_000_000 + i, 10_000_000 + i, 1n, 'warmup', 0n));
      await producer.send({ topic: pacedTopic, acks: -1, messages: warm.flatMap((e) => logRecords(e, PARTITIONS)) });
      await waitFor(client, 'bench_paced', warm.length, paced);
      const total = RATE * PACED_SECONDS;
      // Generated before the clock starts, so the paced phase measures the bridge, not the
      // generator; each event is stamped (source time) and encoded just before it is sent.
      const pacedEvents: RegistrationEvent[] = [];
      for (let i = 0; i < total; i++) pacedEvents.push(eventFor(w, i, i % 50_000, BigInt(i + 1), 'paced', 0n));
      const t0 = Date.now();
      for (let i = 0; i < total;) {
        const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE));
        while (due > i) {
          // At most 1,000 per request: a producer that fell behind must not exceed the broker's max message size.
          const batch = pacedEvents.slice(i, Math.min(due, i + 1000));
          i += batch.length;
          const stamp = BigInt(Date.now());
          for (const e of batch) e.source.tsMs = stamp;
          await producer.send({ topic: pacedTopic, acks: -1, messages: batch.flatMap((e) => logRecords(e, PARTITIONS)) });
        }
        await sleep(5);
      }
      await producer.disconnect();
      await waitFor(client, 'bench_paced', total + warm.length, paced);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await stopChild(paced);
      const p50 = histogramQuantile(metrics, 'ulbridge_apply_latency_seconds', 0.5) * 1000;
      const p99 = histogramQuantile(metrics, 'ulbridge_apply_latency_seconds', 0.99) * 1000;

      const floorRate = n / copySeconds;
      const rate = n / thr.seconds;
      return [
        { figure: 'raw COPY floor', value: floorRate, unit: 'rows/s', note: `${n.toLocaleString('en')} rows into an identical 4.0 table` },
        {
          figure: 'projection',
          value: rate,
          unit: 'events/s',
          note: `${n.toLocaleString('en')} UPSERTs through ulbridge run (labels, state, offsets)`,
        },
        { figure: 'projection / COPY floor', value: rate / floorRate, unit: 'ratio', note: 'aim >= 0.50' },
        { figure: 'apply latency p50 @5k/s', value: p50, unit: 'ms', note: 'source time -> commit, histogram_quantile' },
        { figure: 'apply latency p99 @5k/s', value: p99, unit: 'ms', note: 'aim < 100 ms' },
        { figure: 'peak RSS of ulbridge run', value: thr.peakMiB, unit: 'MiB', note: 'VmHWM during the throughput run; aim < 300 MB' },
      ];
    } finally {
      for (const c of children) await stopChild(c);
      await client.end();
      const dropper = new pg.Client({ connectionString: pgUrl });
      await dropper.connect();
      await dropper
        .query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
        .catch((e: unknown) => ctx.log(`bridge: could not drop ${dbName}: ${(e as Error).message}`));
      await dropper.end();
    }
  },
};
