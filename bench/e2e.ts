import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { applyConnectors } from '../src/connect/connect.js';
import { configCaptures } from '../src/connect/fromConfig.js';
import { ConnectClient } from '../src/connect/rest.js';
import { slotName } from '../src/connect/derive.js';
import { openDb } from '../src/db/open.js';
import { LegacyTableWriter } from '../src/demo/legacyTable.js';
import { createLocationTable } from '../src/demo/tables.js';
import { Workload, type LegacyRow } from '../src/demo/workload.js';
import { unixToLocalDatetime } from '../src/opensips/localTime.js';
import { parseConfig } from '../src/ops/config.js';
import { runStatus } from '../src/service/status.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';
import { cpuSeconds, peakRssMiB, ulbridgeRunArgs } from './services.js';

/**
 * End to end, what users wait for (issue 10), for a PostgreSQL and a MariaDB legacy 2.1 table of N
 * rows (default 200,000; `--rows 1000000`), measured side by side in one run on one stack:
 *   warm-up:        table A (N rows) is snapshotted once by a connector of its own, untimed in
 *                   the ratio (Kafka Connect's JIT: on a fresh Connect the first snapshot takes
 *                   about twice as long, which would favour whichever run came second);
 *   Debezium alone: a connector snapshots table A (N rows) into its topic; connector start ->
 *                   the topic holds N records;
 *   ulbridge:       `ulbridge run` (bin/ulbridge.js, a child process) is running when a connector
 *                   starts on table B (the same N rows); connector start -> the 4.0 target
 *                   (PostgreSQL) holds N rows, then `ulbridge status` (runStatus, in process)
 *                   READY; ratio ulbridge / Debezium alone (goal <= 1.2);
 *   peak RSS of the `ulbridge run` process over the whole run (VmHWM);
 *   apply latency while streaming UPDATEs at a fixed 500/s and 5,000/s: each UPDATE writes its
 *                   send time into the row's user_agent; a trigger on the target table records
 *                   clock_timestamp() when the projection writes the row (same machine clock);
 *                   Debezium's share (CDC record timestamp) and the share up to the registration
 *                   log (log record timestamp: Debezium + ingest), and `ulbridge run`'s CPU per
 *                   change at each rate.
 * ULBRIDGE_BENCH_CAPTURE_CONFIG (a JSON object of strings) adds connector properties to both
 * connectors, e.g. '{"poll.interval.ms":"10"}' to measure Debezium's poll interval.
 * Needs `npm run build` (spawns bin/ulbridge.js). Services: a throwaway stack (src/stack) with
 * PostgreSQL, MariaDB, Kafka and Connect, or existing ones when ULBRIDGE_BENCH_PG_URL,
 * ULBRIDGE_BENCH_MYSQL_URL, ULBRIDGE_BENCH_KAFKA_BROKERS and ULBRIDGE_BENCH_CONNECT_URL are all set.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const STREAM_SECONDS = Number(process.env.ULBRIDGE_BENCH_STREAM_SECONDS ?? 15);
/** The fixed rates streamed after the snapshot (ULBRIDGE_BENCH_RATES, e.g. "500" to profile one). */
const STREAM_RATES = (process.env.ULBRIDGE_BENCH_RATES ?? '500,5000').split(',').map(Number);
if (STREAM_RATES.some((r) => !Number.isInteger(r) || r <= 0 || r % 100 !== 0))
  throw new Error('ULBRIDGE_BENCH_RATES takes multiples of 100 changes/s, comma-separated (one UPDATE every 10 ms)');

/**
 * Connector properties both connectors (Debezium alone and bridged) get on top of ulbridge's,
 * from ULBRIDGE_BENCH_CAPTURE_CONFIG (a JSON object), e.g. '{"poll.interval.ms":"10"}'.
 */
function captureConfig(): Record<string, string> | undefined {
  const text = process.env.ULBRIDGE_BENCH_CAPTURE_CONFIG;
  if (!text) return undefined;
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Object.values(parsed).some((v) => typeof v !== 'string'))
    throw new Error('ULBRIDGE_BENCH_CAPTURE_CONFIG must be a JSON object of strings');
  return parsed as Record<string, string>;
}

interface Services {
  pgUrl: string;
  mysqlUrl: string;
  brokers: string[];
  connectUrl: string;
  stop(): Promise<void>;
}

async function services(ctx: BenchContext): Promise<Services> {
  const env = process.env;
  if (env.ULBRIDGE_BENCH_PG_URL && env.ULBRIDGE_BENCH_MYSQL_URL && env.ULBRIDGE_BENCH_KAFKA_BROKERS && env.ULBRIDGE_BENCH_CONNECT_URL) {
    return {
      pgUrl: env.ULBRIDGE_BENCH_PG_URL,
      mysqlUrl: env.ULBRIDGE_BENCH_MYSQL_URL,
      brokers: env.ULBRIDGE_BENCH_KAFKA_BROKERS.split(',').map((b) => b.trim()),
      connectUrl: env.ULBRIDGE_BENCH_CONNECT_URL,
      stop: async () => undefined,
    };
  }
  ctx.log(
    'e2e: starting a throwaway stack (PostgreSQL, MariaDB, Kafka, Connect); set ULBRIDGE_BENCH_{PG,MYSQL}_URL, _KAFKA_BROKERS, _CONNECT_URL to reuse one',
  );
  const { startStack } = await import('../src/stack/index.js');
  const stack = await startStack({ services: ['postgres', 'mariadb', 'kafka', 'connect'], log: (l: string) => ctx.log(l) });
  return {
    pgUrl: stack.postgres!.url,
    mysqlUrl: stack.mariadb!.url,
    brokers: stack.kafka!.brokers,
    connectUrl: stack.connect!.url,
    stop: () => stack.stop(),
  };
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function createPgDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return withDatabase(adminUrl, name);
}

async function createMysqlDatabase(adminUrl: string, name: string): Promise<string> {
  const c = await mysql.createConnection(adminUrl);
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return withDatabase(adminUrl, name);
}

/** The legacy 2.1 table with n registrations (the demo's workload, same seed for every table). */
async function seedLegacy(kind: 'postgres' | 'mariadb', url: string, n: number): Promise<void> {
  await createLocationTable(url, '2.1');
  const workload = new Workload(42);
  const aors = Math.round(n * 0.7);
  if (kind === 'postgres') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await new LegacyTableWriter(c, 'location', workload, 'UTC', aors).seed(n, aors, 2000);
    } finally {
      await c.end();
    }
    return;
  }
  const c = await mysql.createConnection(url);
  try {
    const cols =
      '(username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, sip_instance, attr)';
    const row = (r: LegacyRow): unknown[] => [
      r.username,
      r.domain,
      r.contact,
      r.received,
      r.path,
      unixToLocalDatetime(r.expires, 'UTC'),
      r.q,
      r.callid,
      r.cseq,
      unixToLocalDatetime(r.lastModified, 'UTC'),
      r.flags,
      r.cflags,
      r.userAgent,
      r.socket,
      r.methods,
      r.sipInstance,
      r.attr,
    ];
    for (let start = 0; start < n; start += 2000) {
      const rows: unknown[][] = [];
      for (let i = start; i < Math.min(n, start + 2000); i++) rows.push(row(workload.registration(i < aors ? i : i % aors)));
      await c.query(`INSERT INTO location ${cols} VALUES ?`, [rows]);
    }
  } finally {
    await c.end();
  }
}

async function topicRecords(admin: Admin, topic: string): Promise<number> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) return 0;
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
}

async function targetRows(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM location');
  return rows[0]!.n;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function dropConnector(connectUrl: string, name: string, pgSlot?: { url: string; slot: string }): Promise<void> {
  await new ConnectClient(connectUrl).call('DELETE', `/connectors/${encodeURIComponent(name)}`).catch(() => undefined);
  if (pgSlot) {
    const c = new pg.Client({ connectionString: pgSlot.url });
    await c.connect();
    try {
      for (let i = 0; i < 20; i++) {
        const { rows } = await c.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [pgSlot.slot]);
        if (rows.length === 0) break;
        if (!rows[0]!.active) {
          await c.query('SELECT pg_drop_replication_slot($1)', [pgSlot.slot]).catch(() => undefined);
          break;
        }
        await sleep(500);
      }
    } finally {
      await c.end();
    }
  }
}

interface DbRun {
  label: string;
  /** Table A's first snapshot on this Connect (the warm-up, outside the ratio). */
  warmupSeconds: number;
  debeziumSeconds: number;
  bridgeSeconds: number;
  readySeconds: number;
  ready: boolean;
  peakRssMiB: number;
  /** CPU seconds of `ulbridge run` (both threads) from connector start to target complete. */
  bridgeCpuSeconds: number;
  latency: Array<{
    rate: number;
    sent: number;
    seen: number;
    p50: number;
    p99: number;
    cdcP50: number;
    cdcP99: number;
    logP50: number;
    logP99: number;
    /** CPU of `ulbridge run` (both threads) per change sent, µs: from the first send until every change was seen. */
    cpuPerChange: number;
  }>;
}

/**
 * Latencies seen on a topic from now on: each record's timestamp minus the send time in the
 * first `lat:<ms>:` of the text `text` makes of its value.
 */
async function watchStamps(
  kafka: Kafka,
  groupId: string,
  topic: string,
  text: (value: Buffer) => string,
): Promise<{ stamps: number[]; stop(): Promise<void> }> {
  const stamps: number[] = [];
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      const m = message.value ? /lat:(\d+):/.exec(text(message.value)) : null;
      if (m) stamps.push(Number(message.timestamp) - Number(m[1]));
    },
  });
  await joined;
  return { stamps, stop: () => consumer.disconnect() };
}

async function runOne(ctx: BenchContext, s: Services, kind: 'postgres' | 'mariadb', n: number, tag: string): Promise<DbRun> {
  const label = kind === 'postgres' ? 'PostgreSQL' : 'MariaDB';
  const say = (l: string): void => ctx.log(`e2e ${label}: ${l}`);
  const kafka = new Kafka({ clientId: 'bench-e2e', brokers: s.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const create = kind === 'postgres' ? createPgDatabase : createMysqlDatabase;
  const adminUrl = kind === 'postgres' ? s.pgUrl : s.mysqlUrl;
  const aloneUrl = await create(adminUrl, `${tag}_alone`);
  const bridgedUrl = await create(adminUrl, `${tag}_bridged`);
  const targetUrl = await createPgDatabase(s.pgUrl, `${tag}_target`);
  say(`seeding two 2.1 tables of ${n.toLocaleString('en-US')} rows`);
  await seedLegacy(kind, aloneUrl, n);
  await seedLegacy(kind, bridgedUrl, n);
  await createLocationTable(targetUrl, '4.0');
  const table = kind === 'postgres' ? 'public.location' : 'location';
  const raw = (name: string, db: string) => ({
    kafka: { brokers: s.brokers },
    connect: { url: s.connectUrl },
    http: { port: 0 },
    log: { topic: `${tag}.log`, partitions: 6, deadLetterTopic: `${tag}.dlq` },
    sources: [
      { name, release: '2.1', timeZone: 'UTC', capture: { db, kind, table, connector: `${tag}-${name}`, config: captureConfig() } },
    ],
    targets: [{ name: 'main', db: targetUrl, table: 'location', release: '4.0', hashSize: 12 }],
  });
  /** Deletes a capture's connector (and on PostgreSQL its replication slot in the database at `url`). */
  const dropCapture = (url: string, capture: ReturnType<typeof configCaptures>[number]) =>
    dropConnector(s.connectUrl, capture.spec.name, kind === 'postgres' ? { url, slot: slotName(capture.spec) } : undefined);

  /** A connector snapshots table A into its own topic: connector start -> the topic holds every row, in seconds. */
  const snapshotAlone = async (name: string): Promise<number> => {
    const aloneCfg = parseConfig(raw(name, aloneUrl), {});
    const capture = configCaptures(aloneCfg)[0]!;
    const t0 = process.hrtime.bigint();
    await applyConnectors(aloneCfg, s.connectUrl);
    while ((await topicRecords(admin, capture.topic)) < n) await sleep(200);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await dropCapture(aloneUrl, capture);
    return seconds;
  };
  // Warm-up: on a fresh Kafka Connect (its JIT cold) the first snapshot takes about twice as long
  // as the next, so whichever run came first would meet a slower Debezium. Table A is snapshotted
  // once untimed; Debezium alone and the bridged run then both meet a warm Connect.
  say('warm-up: a first snapshot of table A on this Connect (not in the ratio)');
  const warmupSeconds = await snapshotAlone('warmup');
  say(`warm-up: ${warmupSeconds.toFixed(1)} s`);
  say('Debezium alone: snapshot of table A into its topic');
  const debeziumSeconds = await snapshotAlone('alone');
  say(`Debezium alone: ${debeziumSeconds.toFixed(1)} s`);

  // ulbridge run, then the connector on table B.
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-bench-e2e-'));
  const configFile = join(dir, 'bridge.json');
  const bridgedRaw = raw('bridged', bridgedUrl);
  writeFileSync(configFile, `${JSON.stringify(bridgedRaw, null, 2)}\n`);
  const cfg = parseConfig(bridgedRaw, {});
  const bridgedCapture = configCaptures(cfg)[0]!;
  const logFd = openSync(join(dir, 'run.log'), 'a');
  const child: ChildProcess = spawn(process.execPath, ulbridgeRunArgs(configFile), {
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let peak = 0;
  const sampler = setInterval(() => {
    const v = child.pid ? peakRssMiB(child.pid) : null;
    if (v !== null) peak = Math.max(peak, v);
  }, 500);
  const target = new pg.Client({ connectionString: targetUrl });
  await target.connect();
  try {
    await sleep(3000); // the bridge process starts and waits for the change topic
    say(`ulbridge: connector on table B with \`ulbridge run\` (pid ${child.pid}) running; log ${join(dir, 'run.log')}`);
    const t1 = process.hrtime.bigint();
    const cpu1 = cpuSeconds(child.pid!);
    await applyConnectors(cfg, s.connectUrl);
    let last = 0;
    for (;;) {
      const rows = await targetRows(target);
      if (rows >= n) break;
      if (child.exitCode !== null) throw new Error(`ulbridge run exited with ${child.exitCode}; see ${join(dir, 'run.log')}`);
      if (Date.now() - last > 10_000) {
        last = Date.now();
        say(
          `target ${rows.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} rows after ${(Number(process.hrtime.bigint() - t1) / 1e9).toFixed(0)} s`,
        );
      }
      await sleep(250);
    }
    const bridgeSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const bridgeCpuSeconds = cpuSeconds(child.pid!) - cpu1;
    const status = await runStatus({ config: cfg, deadLettersSinceMs: null, captureWaitMs: 30_000 });
    const readySeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    say(
      `ulbridge: target complete after ${bridgeSeconds.toFixed(1)} s, status ${status.ready ? 'READY' : 'NOT READY'} after ${readySeconds.toFixed(1)} s`,
    );

    // Apply latency at fixed rates.
    await target.query('CREATE TABLE bench_latency (ua text, at timestamptz)');
    await target.query(`CREATE FUNCTION bench_latency_note() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.user_agent LIKE 'lat:%' THEN INSERT INTO bench_latency VALUES (NEW.user_agent, clock_timestamp()); END IF; RETURN NEW; END $$`);
    await target.query(
      'CREATE TRIGGER bench_latency AFTER INSERT OR UPDATE ON location FOR EACH ROW EXECUTE FUNCTION bench_latency_note()',
    );
    const latency: DbRun['latency'] = [];
    const src = await openDb(bridgedUrl);
    try {
      // Debezium's share: the CDC record's timestamp (set when Connect produced it) - send time;
      // the ingest's: the log record's timestamp (set when ulbridge produced it) - send time.
      const cdcSeen = await watchStamps(kafka, `${tag}.latency`, bridgedCapture.topic, (value) => {
        // The row image after the change: the value holds the one before it too (the previous
        // round's send time when a row is updated again), and "before" comes first.
        const text = value.toString('utf8');
        return text.slice(Math.max(0, text.indexOf('"after":')));
      });
      // The log's Avro value holds the user agent's bytes as they are (latin1 keeps them apart).
      const logSeen = await watchStamps(kafka, `${tag}.latency-log`, cfg.log.topic, (value) => value.toString('latin1'));
      await sleep(2000);
      for (const rate of STREAM_RATES) {
        await target.query('TRUNCATE bench_latency');
        cdcSeen.stamps.length = 0;
        logSeen.stamps.length = 0;
        const perTick = rate / 100; // one multi-row UPDATE every 10 ms
        const cpuBefore = cpuSeconds(child.pid!);
        let sent = 0;
        let id = 1;
        const start = Date.now();
        for (let tick = 0; tick < STREAM_SECONDS * 100; tick++) {
          const due = start + tick * 10;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
          const ids: number[] = [];
          for (let i = 0; i < perTick; i++) {
            ids.push(id);
            id = (id % n) + 1;
          }
          const now = String(Date.now());
          if (kind === 'postgres') {
            await src.query(`UPDATE location SET user_agent = 'lat:' || $1 || ':' || id, cseq = cseq + 1 WHERE id = ANY($2::int[])`, [
              now,
              ids,
            ]);
          } else {
            await src.query(`UPDATE location SET user_agent = CONCAT('lat:', ?, ':', id), cseq = cseq + 1 WHERE id IN (${ids.join(',')})`, [
              now,
            ]);
          }
          sent += ids.length;
        }
        const behind = (Date.now() - start) / 1000 - STREAM_SECONDS;
        if (behind > 1) say(`the writer fell ${behind.toFixed(1)} s behind ${rate}/s`);
        // Until every sent change arrived (or 60 s).
        const deadline = Date.now() + 60_000;
        let seen = 0;
        while (Date.now() < deadline) {
          seen = (await target.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_latency')).rows[0]!.n;
          if (seen >= sent) break;
          await sleep(250);
        }
        const cpu = cpuSeconds(child.pid!) - cpuBefore;
        const { rows } = await target.query<{ ms: number }>(
          `SELECT (extract(epoch FROM at) * 1000 - split_part(ua, ':', 2)::bigint)::float8 AS ms FROM bench_latency`,
        );
        const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
        const dbz = [...cdcSeen.stamps].sort((a, b) => a - b);
        const ingested = [...logSeen.stamps].sort((a, b) => a - b);
        const l: DbRun['latency'][number] = {
          rate,
          sent,
          seen,
          p50: percentile(ms, 50),
          p99: percentile(ms, 99),
          cdcP50: percentile(dbz, 50),
          cdcP99: percentile(dbz, 99),
          logP50: percentile(ingested, 50),
          logP99: percentile(ingested, 99),
          cpuPerChange: (cpu / sent) * 1e6,
        };
        latency.push(l);
        say(
          `latency at ${rate}/s: ${seen} of ${sent} seen, p50 ${l.p50.toFixed(0)} ms, p99 ${l.p99.toFixed(0)} ms (of which Debezium to its topic: p50 ${l.cdcP50.toFixed(0)} ms, p99 ${l.cdcP99.toFixed(0)} ms; to the log: p50 ${l.logP50.toFixed(0)} ms, p99 ${l.logP99.toFixed(0)} ms); ulbridge run CPU ${cpu.toFixed(1)} s`,
        );
      }
      await cdcSeen.stop();
      await logSeen.stop();
    } finally {
      await src.close();
    }
    const v = child.pid ? peakRssMiB(child.pid) : null;
    if (v !== null) peak = Math.max(peak, v);
    return {
      label,
      warmupSeconds,
      debeziumSeconds,
      bridgeSeconds,
      readySeconds,
      ready: status.ready,
      peakRssMiB: peak,
      bridgeCpuSeconds,
      latency,
    };
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    await target.end();
    await dropCapture(bridgedUrl, bridgedCapture);
    await admin.disconnect();
  }
}

function rowsOption(ctx: BenchContext): number {
  const i = process.argv.indexOf('--rows');
  const base = i >= 0 ? Number(process.argv[i + 1]) : 200_000;
  if (!(base > 0)) throw new Error('--rows takes a positive number');
  return Math.max(1000, Math.round(base * ctx.scale));
}

export const section: BenchSection = {
  name: 'e2e',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const n = rowsOption(ctx);
    if (!existsSync(join(root, 'dist'))) throw new Error('e2e spawns bin/ulbridge.js: run `npm run build` first');
    const s = await services(ctx);
    const figures: BenchFigure[] = [];
    try {
      for (const kind of ['postgres', 'mariadb'] as const) {
        const tag = `e2e_${kind === 'postgres' ? 'pg' : 'my'}_${process.pid}_${Date.now() % 1_000_000}`;
        const r = await runOne(ctx, s, kind, n, tag);
        const rows = `${n.toLocaleString('en-US')} rows`;
        figures.push(
          {
            figure: `Debezium alone: warm-up snapshot (${r.label})`,
            value: r.warmupSeconds,
            unit: 's',
            note: `${rows}, the same table's first snapshot on this Connect; not in the ratio`,
          },
          {
            figure: `Debezium alone: snapshot to topic (${r.label})`,
            value: r.debeziumSeconds,
            unit: 's',
            note: `${rows}, connector start -> topic holds every row (after the warm-up)`,
          },
          {
            figure: `ulbridge: connector start -> target complete (${r.label})`,
            value: r.bridgeSeconds,
            unit: 's',
            note: `${rows} into a 4.0 PostgreSQL table`,
          },
          {
            figure: `ulbridge / Debezium alone (${r.label})`,
            value: r.bridgeSeconds / r.debeziumSeconds,
            unit: 'ratio',
            note: 'goal <= 1.2',
          },
          {
            figure: `ulbridge: connector start -> status ${r.ready ? 'READY' : 'NOT READY'} (${r.label})`,
            value: r.readySeconds,
            unit: 's',
            note: 'runStatus after the target is complete (includes its verify)',
          },
          {
            figure: `ulbridge run CPU per row (${r.label})`,
            value: (r.bridgeCpuSeconds / n) * 1e6,
            unit: 'µs',
            note: `user + system CPU of the process (both threads), connector start -> target complete: ${r.bridgeCpuSeconds.toFixed(1)} s`,
          },
          {
            figure: `ulbridge run peak RSS (${r.label})`,
            value: r.peakRssMiB,
            unit: 'MiB',
            note: 'VmHWM of the process over the run; goal < 200 MiB at 1M',
          },
        );
        for (const l of r.latency) {
          figures.push(
            {
              figure: `apply latency p50 at ${l.rate}/s (${r.label})`,
              value: l.p50,
              unit: 'ms',
              note: `source UPDATE -> target row written, ${l.seen}/${l.sent} changes`,
            },
            {
              figure: `apply latency p99 at ${l.rate}/s (${r.label})`,
              value: l.p99,
              unit: 'ms',
              note: `goal < ${l.rate >= 5000 ? 100 : 50} ms`,
            },
            {
              figure: `  of which Debezium p50/p99 at ${l.rate}/s (${r.label})`,
              value: l.cdcP50,
              unit: 'ms',
              note: `p99 ${Math.round(l.cdcP99)} ms: source UPDATE -> CDC record timestamp`,
            },
            {
              figure: `  of which to the log p50/p99 at ${l.rate}/s (${r.label})`,
              value: l.logP50,
              unit: 'ms',
              note: `p99 ${Math.round(l.logP99)} ms: source UPDATE -> registration log record timestamp (Debezium + ingest)`,
            },
            {
              figure: `ulbridge run CPU per change at ${l.rate}/s (${r.label})`,
              value: l.cpuPerChange,
              unit: 'µs',
              note: 'user + system CPU of the process (both threads), first change sent -> last one written',
            },
          );
        }
      }
    } finally {
      await s.stop();
    }
    return figures;
  },
};
