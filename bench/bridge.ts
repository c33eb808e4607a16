import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Kafka, logLevel } from 'kafkajs';
import { Workload } from '../src/demo/workload.js';
import { createLocationTableSql } from '../src/db/ddl.js';
import { mysqlDialect, postgresDialect } from '../src/db/dialect.js';
import { logRecords } from '../src/log/messages.js';
import { createLogProducer } from '../src/log/producer.js';
import { ensureTopics } from '../src/log/topics.js';
import type { RegistrationEvent } from '../src/log/event.js';
import { releaseProfile } from '../src/opensips/releases.js';
import { packContactId } from '../src/opensips/contactId.js';
import { mysqlSessionOptions, prepareMysqlSession } from '../src/project/mysqlStore.js';
import { aorIdentity, compileTarget } from '../src/project/target.js';
import { targetColumns, targetRowValues } from '../src/project/targetRow.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';
import { cpuSeconds, mariaDbServer, peakRssMiB, ulbridgeRunArgs } from './services.js';

/**
 * The projection (registration log -> 4.0 table), run as a real `ulbridge run` child process, into
 * a PostgreSQL and a MariaDB target, each beside its floor measured in the same run: the bare bulk
 * writes of the same rows into a table of the same shape. Phases:
 *   1. produce N UPSERT events of new bindings (N = 1M at --scale 1; 0.7 N AORs) into a log topic,
 *      and N UPSERTs refreshing each of them (same source row, CSeq + 1, later expires and
 *      last_modified, later position) into a second topic;
 *   2. per database, floors: the first load is a bulk load of the N rows the projection writes
 *      into an identical table (PostgreSQL COPY; MariaDB LOAD DATA LOCAL INFILE, or multi-row
 *      INSERTs where the server refuses local infile); the refresh is a bulk load of the N
 *      refreshed rows into a temporary table and one UPDATE of the loaded table from it
 *      (PostgreSQL UPDATE ... FROM, MariaDB UPDATE ... JOIN), every column but the key, as the
 *      projection's UPDATE sets them;
 *   3. per database, throughput: `ulbridge run` with one projection on the first topic, time from
 *      its first committed batch to the last offset, its peak RSS (VmHWM) read from /proc; then
 *      `ulbridge run` again, same target and state, on the refresh topic, timed the same way;
 *   4. latency (PostgreSQL): a second projection, events produced at a fixed 5,000/s for 20 s with
 *      source time = produce time; p50/p99 of the apply latency histogram scraped from /metrics.
 *
 * MariaDB: $ULBRIDGE_BENCH_MYSQL_URL (a root URL), else a throwaway server (src/stack).
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

async function produce(
  kafka: Kafka,
  topic: string,
  evs: RegistrationEvent[],
  map: (e: RegistrationEvent) => RegistrationEvent = (e) => e,
): Promise<void> {
  const producer = createLogProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < evs.length; i += 2000) {
      const messages = evs.slice(i, i + 2000).flatMap((e) => logRecords(map(e), PARTITIONS));
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

const tsvEscape = (v: unknown): string =>
  v === null || v === undefined ? '\\N' : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');

/** A binding of the first load refreshed by its registrar: same source row, next CSeq, later expiry, later position. */
function refreshed(e: RegistrationEvent, n: number): RegistrationEvent {
  const r = e.registration!;
  return {
    op: 'UPSERT',
    source: { ...e.source, position: { major: e.source.position.major + BigInt(n), minor: 1n, seq: 0n } },
    registration: { ...r, cseq: r.cseq + 1, expires: r.expires + 900n, lastModified: r.lastModified + 60n },
  };
}

const floorTarget = compileTarget({
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

/**
 * The rows of both floors as tab-separated text (PostgreSQL COPY's text format, which is also
 * LOAD DATA's default format), in chunks of 5,000 lines: exactly the rows the projection writes
 * (same columns, same converted values from targetRowValues, ids with one record label per AOR and
 * contact labels counting per AOR), first as loaded, then as refreshed (same ids). Built before any
 * clock starts: the floors time the database only.
 */
function floorRows(evs: RegistrationEvent[]): { load: Buffer[]; refresh: Buffer[] } {
  const labels = new Map<string, { rlabel: number; next: number }>();
  const load: Buffer[] = [];
  const refresh: Buffer[] = [];
  let a: string[] = [];
  let b: string[] = [];
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i]!;
    const r = e.registration!;
    const id = aorIdentity(floorTarget, r.username, r.domain);
    let l = labels.get(id.key);
    if (!l) labels.set(id.key, (l = { rlabel: 131072 + labels.size, next: 0 }));
    const contactId = packContactId({ aorhash: id.aorhash, rlabel: l.rlabel, clabel: l.next++ });
    a.push(targetRowValues(floorTarget, contactId, r).map(tsvEscape).join('\t'));
    b.push(targetRowValues(floorTarget, contactId, refreshed(e, 0).registration!).map(tsvEscape).join('\t'));
    if (a.length === 5000 || i === evs.length - 1) {
      load.push(Buffer.from(a.join('\n') + '\n'));
      refresh.push(Buffer.from(b.join('\n') + '\n'));
      a = [];
      b = [];
    }
  }
  return { load, refresh };
}

const floorCols = targetColumns(floorTarget);

/** PostgreSQL floors: COPY into location_floor; COPY into a temp table + one UPDATE ... FROM. */
async function pgFloors(client: pg.Client, rows: { load: Buffer[]; refresh: Buffer[] }): Promise<{ load: number; refresh: number }> {
  const cols = floorCols.join(', ');
  let start = process.hrtime.bigint();
  await pipeline(Readable.from(rows.load), client.query(copyFrom(`COPY location_floor (${cols}) FROM STDIN`)));
  const load = Number(process.hrtime.bigint() - start) / 1e9;
  start = process.hrtime.bigint();
  await client.query('CREATE TEMP TABLE floor_stage (LIKE location_floor)');
  await pipeline(Readable.from(rows.refresh), client.query(copyFrom(`COPY floor_stage (${cols}) FROM STDIN`)));
  await client.query('ANALYZE floor_stage');
  const sets = floorCols
    .slice(1)
    .map((c) => `${c} = u.${c}`)
    .join(', ');
  await client.query(`UPDATE location_floor AS t SET ${sets} FROM floor_stage AS u WHERE t.contact_id = u.contact_id`);
  const refresh = Number(process.hrtime.bigint() - start) / 1e9;
  await client.query('DROP TABLE floor_stage');
  return { load, refresh };
}

/** One line of floorRows back to values (for the multi-row INSERT fallback). */
function tsvValues(line: string): Array<string | null> {
  return line
    .split('\t')
    .map((v) => (v === '\\N' ? null : v.replace(/\\(.)/g, (_m, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c))));
}

/** Multi-row INSERTs of 1,000 rows, one transaction: the floor where the server refuses LOAD DATA LOCAL. */
async function mysqlInsertRows(conn: mysql.Connection, table: string, chunks: Buffer[]): Promise<void> {
  await conn.query('START TRANSACTION');
  for (const c of chunks) {
    const lines = c.toString('utf8').split('\n').filter(Boolean);
    for (let i = 0; i < lines.length; i += 1000) {
      const values = lines
        .slice(i, i + 1000)
        .map(
          (l) =>
            `(${tsvValues(l)
              .map((v) => mysql.escape(v))
              .join(', ')})`,
        )
        .join(', ');
      await conn.query(`INSERT INTO ${table} (${floorCols.join(', ')}) VALUES ${values}`);
    }
  }
  await conn.query('COMMIT');
}

async function mysqlLoadRows(conn: mysql.Connection, table: string, chunks: Buffer[], infile: boolean): Promise<void> {
  if (!infile) return mysqlInsertRows(conn, table, chunks);
  await conn.query({
    sql: `LOAD DATA LOCAL INFILE 'floor.tsv' INTO TABLE ${table} (${floorCols.join(', ')})`,
    infileStreamFactory: () => Readable.from(chunks),
  });
}

/**
 * Whether LOAD DATA LOCAL INFILE works: the server's local_infile (turned on with SET GLOBAL when
 * it is off and the URL is root's), probed with one row into a scratch table.
 */
async function mysqlInfile(conn: mysql.Connection, ctx: BenchContext): Promise<boolean> {
  try {
    const [rows] = await conn.query('SELECT @@GLOBAL.local_infile AS on_');
    if (!Number((rows as Array<{ on_: unknown }>)[0]!.on_)) await conn.query('SET GLOBAL local_infile = 1');
    await conn.query('CREATE TEMPORARY TABLE infile_probe (a INT)');
    await conn.query({
      sql: "LOAD DATA LOCAL INFILE 'probe.tsv' INTO TABLE infile_probe",
      infileStreamFactory: () => Readable.from([Buffer.from('1\n')]),
    });
    await conn.query('DROP TEMPORARY TABLE infile_probe');
    return true;
  } catch (e) {
    ctx.log(`bridge: LOAD DATA LOCAL INFILE refused (${(e as Error).message}); the MariaDB floor is multi-row INSERTs`);
    return false;
  }
}

/** MariaDB floors: LOAD DATA into location_floor; LOAD DATA into a temp table + one UPDATE ... JOIN. */
async function mysqlFloors(
  conn: mysql.Connection,
  rows: { load: Buffer[]; refresh: Buffer[] },
  infile: boolean,
): Promise<{ load: number; refresh: number }> {
  let start = process.hrtime.bigint();
  await mysqlLoadRows(conn, 'location_floor', rows.load, infile);
  const load = Number(process.hrtime.bigint() - start) / 1e9;
  start = process.hrtime.bigint();
  await conn.query('CREATE TEMPORARY TABLE floor_stage LIKE location_floor');
  await mysqlLoadRows(conn, 'floor_stage', rows.refresh, infile);
  const sets = floorCols
    .slice(1)
    .map((c) => `t.${c} = u.${c}`)
    .join(', ');
  await conn.query(`UPDATE location_floor AS t JOIN floor_stage AS u ON t.contact_id = u.contact_id SET ${sets}`);
  const refresh = Number(process.hrtime.bigint() - start) / 1e9;
  await conn.query('DROP TEMPORARY TABLE floor_stage');
  return { load, refresh };
}

function startBridge(configFile: string): ChildProcess {
  return spawn(process.execPath, ulbridgeRunArgs(configFile), {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ULBRIDGE_LOG_LEVEL: 'warn' },
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

/** Sum of a projection's next offsets on one topic, from its state in a PostgreSQL target (0 before it has any). */
async function pgApplied(client: pg.Client, schema: string, topic: string): Promise<number> {
  const { rows } = await client
    .query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM ${schema}.offsets WHERE topic = $1`, [topic])
    .catch(() => ({ rows: [{ n: 0 }] }));
  return Number(rows[0].n);
}

/** The same from a MySQL/MariaDB target (its state database). */
async function mysqlApplied(conn: mysql.Connection, schema: string, topic: string): Promise<number> {
  try {
    const [rows] = await conn.query(`SELECT CAST(coalesce(sum(next_offset), 0) AS CHAR) AS n FROM ${schema}.offsets WHERE topic = ?`, [
      topic,
    ]);
    return Number((rows as Array<{ n: string }>)[0]!.n);
  } catch {
    return 0;
  }
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

/**
 * Waits until `applied()` reaches `total`; the clock runs from the first committed batch (the
 * child has started, joined its group and compiled) to the last offset.
 */
async function waitFor(
  applied: () => Promise<number>,
  total: number,
  child: ChildProcess,
): Promise<{ seconds: number; peakMiB: number; cpuShare: number }> {
  let startedAt: bigint | null = null;
  let cpuAtStart = 0;
  let peakMiB = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ulbridge run exited with ${child.exitCode} before applying every event`);
    const done = await applied();
    if (done > 0 && startedAt === null) {
      startedAt = process.hrtime.bigint();
      cpuAtStart = cpuSeconds(child.pid!);
    }
    peakMiB = Math.max(peakMiB, peakRssMiB(child.pid!) ?? 0);
    if (done >= total) break;
    await sleep(100);
  }
  const seconds = Number(process.hrtime.bigint() - (startedAt ?? process.hrtime.bigint())) / 1e9;
  return { seconds, peakMiB, cpuShare: (cpuSeconds(child.pid!) - cpuAtStart) / seconds };
}

interface Throughput {
  load: { seconds: number; peakMiB: number };
  refresh: { seconds: number; peakMiB: number };
}

/** First load (topic) then refreshes (refreshTopic), each by its own `ulbridge run`, into one target and state. */
async function projectBoth(
  ctx: BenchContext,
  label: string,
  children: ChildProcess[],
  config: (topic: string) => string,
  applied: (topic: string) => Promise<number>,
  topics: { load: string; refresh: string },
  n: number,
): Promise<Throughput> {
  const run = async (topic: string, phase: string): Promise<{ seconds: number; peakMiB: number }> => {
    const child = startBridge(config(topic));
    children.push(child);
    const r = await waitFor(() => applied(topic), n, child);
    await stopChild(child);
    ctx.log(
      `bridge: ${label} ${phase}: ${(n / r.seconds).toFixed(0)} events/s over ${r.seconds.toFixed(1)} s; ulbridge run used ${(r.cpuShare * 100).toFixed(0)}% of one core`,
    );
    return r;
  };
  const load = await run(topics.load, 'first load');
  const refresh = await run(topics.refresh, 'refresh');
  return { load, refresh };
}

/**
 * The projected table must hold what the floor table holds after both phases (same rows, refreshed):
 * a refresh the projection skipped would otherwise pass for a fast one.
 */
const TABLE_CHECK = (table: string, text: 'text' | 'CHAR'): string =>
  `SELECT CAST(count(*) AS ${text}) AS n, CAST(sum(cseq) AS ${text}) AS cseq, CAST(sum(expires) AS ${text}) AS expires FROM ${table}`;

function checkSame(db: string, projected: unknown, floor: unknown): void {
  const a = JSON.stringify(projected);
  const b = JSON.stringify(floor);
  if (a !== b) throw new Error(`bridge: the ${db} projection's table differs from the floor's after the refreshes: ${a} vs ${b}`);
}

function ratioFigures(
  db: string,
  phase: string,
  floorName: string,
  floorRate: number,
  rate: number,
  what: string,
  rows: string,
): BenchFigure[] {
  return [
    { figure: `${db} ${phase}: ${floorName}`, value: floorRate, unit: 'rows/s', note: rows },
    { figure: `${db} ${phase}: projection`, value: rate, unit: 'events/s', note: what },
    { figure: `${db} ${phase}: projection / floor`, value: rate / floorRate, unit: 'ratio', note: 'goal >= 0.5, aim 0.8' },
  ];
}

export const section: BenchSection = {
  name: 'bridge',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const n = Math.round(1_000_000 * ctx.scale);
    const pgUrl = await ctx.postgresUrl();
    const brokers = await ctx.kafkaBrokers();
    const mariadb = await mariaDbServer(ctx);
    const stamp = Date.now().toString(36);
    const dbName = `bench_bridge_${stamp}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const dbUrl = Object.assign(new URL(pgUrl), { pathname: `/${dbName}` }).toString();
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    // MariaDB: the target and floor tables in one database, the projection's state in another.
    const myState = `${dbName}_state`;
    const myAdmin = await mysql.createConnection({ uri: mariadb.url });
    await myAdmin.query(`CREATE DATABASE ${dbName}`);
    await myAdmin.end();
    const myUrl = Object.assign(new URL(mariadb.url), { pathname: `/${dbName}` }).toString();
    const my = await mysql.createConnection(mysqlSessionOptions(myUrl));
    await prepareMysqlSession(my);
    const kafka = new Kafka({ clientId: 'ulbridge-bench', brokers, logLevel: logLevel.NOTHING });
    const dir = mkdtempSync(join(tmpdir(), 'ulbridge-bench-'));
    const children: ChildProcess[] = [];
    try {
      const profile = releaseProfile('4.0');
      for (const table of ['location', 'location_floor', 'location_paced']) {
        for (const sql of createLocationTableSql(profile, postgresDialect, table)) await client.query(sql);
      }
      for (const table of ['location', 'location_floor']) {
        for (const sql of createLocationTableSql(profile, mysqlDialect, table)) await my.query(sql);
      }
      const topics = { load: `bench.registrations.${stamp}`, refresh: `bench.refreshes.${stamp}` };
      const pacedTopic = `bench.paced.${stamp}`;
      const kadmin = kafka.admin();
      await kadmin.connect();
      for (const topic of [topics.load, topics.refresh, pacedTopic]) {
        await ensureTopics(kadmin, { topic, partitions: PARTITIONS, deadLetterTopic: `${topic}.dlq` });
      }
      await kadmin.disconnect();

      ctx.log(`bridge: generating and producing ${n.toLocaleString('en')} new bindings and ${n.toLocaleString('en')} refreshes of them`);
      const evs = events(n, Math.floor(Date.now() / 1000), 'bench');
      await produce(kafka, topics.load, evs);
      await produce(kafka, topics.refresh, evs, (e) => refreshed(e, n));
      const rows = floorRows(evs);
      evs.length = 0;

      const config = (t: string, db: string, table: string, name: string, stateSchema: string, port: number): string => {
        const file = join(dir, `${name}.json`);
        writeFileSync(
          file,
          JSON.stringify({
            kafka: { brokers },
            log: { topic: t, partitions: PARTITIONS, deadLetterTopic: `${t}.dlq` },
            targets: [{ name, db, table, release: '4.0', hashSize: 9, stateSchema }],
            http: { port },
          }),
        );
        return file;
      };

      ctx.log('bridge: PostgreSQL floors (COPY; COPY + UPDATE ... FROM)');
      const pgFloor = await pgFloors(client, rows);
      ctx.log('bridge: PostgreSQL throughput (ulbridge run, one projection: first load, then refreshes)');
      const pgThr = await projectBoth(
        ctx,
        'PostgreSQL',
        children,
        (t) => config(t, dbUrl, 'location', 'bench_throughput', 'bench_throughput', 0),
        (t) => pgApplied(client, 'bench_throughput', t),
        topics,
        n,
      );

      checkSame(
        'PostgreSQL',
        (await client.query(TABLE_CHECK('location', 'text'))).rows,
        (await client.query(TABLE_CHECK('location_floor', 'text'))).rows,
      );

      const infile = await mysqlInfile(my, ctx);
      const myFloorHow = infile ? 'LOAD DATA LOCAL INFILE' : 'multi-row INSERT (1,000 rows, one tx)';
      ctx.log(`bridge: MariaDB floors (${myFloorHow}; the same into a temp table + UPDATE ... JOIN)`);
      const myFloor = await mysqlFloors(my, rows, infile);
      rows.load.length = 0;
      rows.refresh.length = 0;
      ctx.log('bridge: MariaDB throughput (ulbridge run, one projection: first load, then refreshes)');
      const myThr = await projectBoth(
        ctx,
        'MariaDB',
        children,
        (t) => config(t, myUrl, 'location', 'bench_throughput_mariadb', myState, 0),
        (t) => mysqlApplied(my, myState, t),
        topics,
        n,
      );

      checkSame(
        'MariaDB',
        (await my.query(TABLE_CHECK('location', 'CHAR')))[0],
        (await my.query(TABLE_CHECK('location_floor', 'CHAR')))[0],
      );

      ctx.log(`bridge: latency at a fixed ${RATE.toLocaleString('en')} events/s for ${PACED_SECONDS} s`);
      const port = 19000 + Math.floor(Math.random() * 1000);
      const paced = startBridge(config(pacedTopic, dbUrl, 'location_paced', 'bench_paced', 'bench_paced', port));
      children.push(paced);
      const pacedApplied = (): Promise<number> => pgApplied(client, 'bench_paced', pacedTopic);
      const producer = createLogProducer(kafka);
      await producer.connect();
      const w = new Workload(23);
      // Warm-up: one event per partition, applied before the clock starts, so the child has
      // compiled, joined its group and holds every partition.
      const warm: RegistrationEvent[] = [];
      for (let i = 0; warm.length < 200; i++) warm.push(eventFor(w, 10_000_000 + i, 10_000_000 + i, 1n, 'warmup', 0n));
      await producer.send({ topic: pacedTopic, acks: -1, messages: warm.flatMap((e) => logRecords(e, PARTITIONS)) });
      await waitFor(pacedApplied, warm.length, paced);
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
      await waitFor(pacedApplied, total + warm.length, paced);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await stopChild(paced);
      const p50 = histogramQuantile(metrics, 'ulbridge_apply_latency_seconds', 0.5) * 1000;
      const p99 = histogramQuantile(metrics, 'ulbridge_apply_latency_seconds', 0.99) * 1000;

      const count = n.toLocaleString('en');
      const loadWhat = `${count} UPSERTs of new bindings through ulbridge run (labels, state, offsets)`;
      const refreshWhat = `${count} UPSERTs refreshing those bindings (CSeq + 1, later expires), same run and state`;
      return [
        ...ratioFigures(
          'PostgreSQL',
          'first load',
          'raw COPY floor',
          n / pgFloor.load,
          n / pgThr.load.seconds,
          loadWhat,
          `${count} rows into an identical 4.0 table`,
        ),
        ...ratioFigures(
          'PostgreSQL',
          'refresh',
          'COPY + UPDATE floor',
          n / pgFloor.refresh,
          n / pgThr.refresh.seconds,
          refreshWhat,
          `${count} refreshed rows COPYed into a temp table + one UPDATE ... FROM of every column`,
        ),
        ...ratioFigures(
          'MariaDB',
          'first load',
          infile ? 'LOAD DATA floor' : 'multi-row INSERT floor',
          n / myFloor.load,
          n / myThr.load.seconds,
          loadWhat,
          `${count} rows into an identical 4.0 table, ${myFloorHow}`,
        ),
        ...ratioFigures(
          'MariaDB',
          'refresh',
          infile ? 'LOAD DATA + UPDATE floor' : 'INSERT + UPDATE floor',
          n / myFloor.refresh,
          n / myThr.refresh.seconds,
          refreshWhat,
          `${count} refreshed rows into a temp table (${myFloorHow}) + one UPDATE ... JOIN of every column`,
        ),
        { figure: 'apply latency p50 @5k/s', value: p50, unit: 'ms', note: 'PostgreSQL; source time -> commit, histogram_quantile' },
        { figure: 'apply latency p99 @5k/s', value: p99, unit: 'ms', note: 'PostgreSQL; goal < 100 ms' },
        {
          figure: 'peak RSS of ulbridge run',
          value: pgThr.load.peakMiB,
          unit: 'MiB',
          note: 'PostgreSQL; VmHWM during the first-load run; goal < 200 MiB (over 1M events)',
        },
        {
          figure: 'peak RSS of ulbridge run (MariaDB)',
          value: myThr.load.peakMiB,
          unit: 'MiB',
          note: 'VmHWM during the first-load run; goal < 200 MiB (over 1M events)',
        },
      ];
    } finally {
      for (const c of children) await stopChild(c);
      await client.end();
      await my.end();
      const dropper = new pg.Client({ connectionString: pgUrl });
      await dropper.connect();
      await dropper
        .query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
        .catch((e: unknown) => ctx.log(`bridge: could not drop ${dbName}: ${(e as Error).message}`));
      await dropper.end();
      const myDropper = await mysql.createConnection({ uri: mariadb.url });
      for (const db of [dbName, myState]) {
        await myDropper
          .query(`DROP DATABASE IF EXISTS ${db}`)
          .catch((e: unknown) => ctx.log(`bridge: could not drop ${db}: ${(e as Error).message}`));
      }
      await myDropper.end();
      await mariadb.stop();
    }
  },
};
