import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { registerConnector, deleteConnector } from '../../src/stack/index.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { LegacyTableWriter } from '../../src/demo/legacyTable.js';
import { Workload } from '../../src/demo/workload.js';
import { readTopic, squatGroup } from '../support/kafka.js';
import { metricValue, samples } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import {
  connectUrl,
  freshMariaDb,
  freshPostgresDb,
  kafkaBrokers,
  mariaDbUrl,
  postgresUrl,
  withMysql,
  withPg,
  type FreshDb,
} from '../support/services.js';
import { compareIndependently, describeComparison, waitForIndependentEqual, type TableSpec } from '../support/independentCompare.js';

// Issue 9: the operator-facing contract, through the real CLI (bin/ulbridge.js, the built dist/,
// spawned as a child): /healthz and /readyz, the metrics the README and the runbook tell operators
// to watch, the environment overrides of docs/configuration.md, every error code of
// docs/errors.md a user can trigger, and scale-out of `ulbridge run` over two processes.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/ulbridge.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TAG = `contract_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'ulbridge-contract-'));

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newestMtime(join(path, f))));
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `node bin/ulbridge.js ARGS` to completion (bounded: 90 s). */
function ulbridge(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `ulbridge run --config FILE` through bin/ulbridge.js, left running. */
class RunProcess {
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(configFile: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, 'run', '--config', configFile], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-50_000)));
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(): string {
    return `\nrun log:\n${this.log.slice(-3000)}`;
  }

  /** SIGTERM, then the exit (bounded: 60 s). */
  async term(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    const r = await Promise.race([this.exited, sleep(60_000).then(() => null)]);
    if (!r) {
      this.child.kill('SIGKILL');
      assert.fail(`ulbridge run did not exit within 60 s of SIGTERM${this.tail()}`);
    }
    return r;
  }

  /** The exit after a signal sent already (bounded: 60 s). */
  async waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const r = await Promise.race([this.exited, sleep(60_000).then(() => null)]);
    if (!r) {
      this.child.kill('SIGKILL');
      assert.fail(`ulbridge run did not exit within 60 s${this.tail()}`);
    }
    return r;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

/** Polls `url` until `until` holds (bounded); fails with the last answer. */
async function waitHttp(
  url: string,
  until: (r: { status: number; text: string }) => boolean,
  what: string,
  run: RunProcess | null,
  timeoutMs = 60_000,
): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; text: string } | string = 'no answer';
  while (Date.now() < deadline) {
    try {
      const r = await get(url);
      if (until(r)) return r;
      last = r;
    } catch (e) {
      last = (e as Error).message;
    }
    if (run && !run.alive) break;
    await sleep(200);
  }
  assert.fail(`${what}: ${url} did not answer as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}${run ? run.tail() : ''}`);
}

/**
 * Polls /readyz while the bridge starts until its reasons are exactly `reasons` (bounded): every
 * answer until then must be 503 with ready false.
 */
async function readyzWhileStarting(
  base: string,
  reasons: string[],
  run: RunProcess,
): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const deadline = Date.now() + 60_000;
  let last = 'no answer';
  while (Date.now() < deadline && run.alive) {
    try {
      const r = await get(`${base}/readyz`);
      last = `${r.status} ${r.text}`;
      const body = JSON.parse(r.text) as { ready: boolean; reasons: string[] };
      assert.equal(r.status, 503, `/readyz is not 200 while starting: ${r.text}`);
      assert.equal(body.ready, false);
      if (JSON.stringify(body.reasons) === JSON.stringify(reasons)) return { status: r.status, body };
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      last = (e as Error).message;
    }
    await sleep(100);
  }
  assert.fail(`/readyz did not give the reasons ${JSON.stringify(reasons)} while starting within 60 s; last: ${last}${run.tail()}`);
}

function writeJson(name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}

// ---------------------------------------------------------------------------------------------
// The legacy table and its Debezium connector, shared by the tests that need a live stream.

let legacy: FreshDb;
let legacyClient: pg.Client;
let writer: LegacyTableWriter;
const connectorName = `${TAG}_legacy`;
const cdcTopic = `${connectorName}.public.location`;
const logTopic = `${TAG}.registrations`;
const dlqTopic = `${TAG}.dead-letters`;
let connectorSpec: Parameters<typeof registerConnector>[1];
let connectorRegistered = false;
const runs: RunProcess[] = [];
const legacySpec = (): TableSpec => ({ url: legacy.url, release: '2.1', timeZone: 'UTC' });

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is missing: run `npm run build` before this test (it runs bin/ulbridge.js)');
  assert.ok(
    newestMtime(join(ROOT, 'dist')) >= newestMtime(join(ROOT, 'src')),
    'dist/ is older than src/: run `npm run build` before this test (it runs bin/ulbridge.js)',
  );
  legacy = await freshPostgresDb(`${TAG}_legacy`);
  await createLocationTable(legacy.url, '2.1');
  legacyClient = new pg.Client({ connectionString: legacy.url });
  await legacyClient.connect();
  writer = new LegacyTableWriter(legacyClient, 'location', new Workload(909), 'UTC', 1_200);
  await writer.seed(1_500, 1_200);
  connectorSpec = { name: connectorName, kind: 'postgres', url: legacy.url, table: 'public.location', kafkaBrokers: kafkaBrokers() };
});

after(async () => {
  for (const r of runs) r.kill();
  if (connectorRegistered) await deleteConnector(connectUrl(), connectorName, { cleanup: connectorSpec }).catch(() => undefined);
  await legacyClient?.end().catch(() => undefined);
});

function startRun(configFile: string, env: NodeJS.ProcessEnv = {}): RunProcess {
  const r = new RunProcess(configFile, env);
  runs.push(r);
  return r;
}

// ---------------------------------------------------------------------------------------------

test('SIGTERM while starting (an ingest waits for its Debezium topic): /readyz 503, /healthz 200, then a handled stop, exit 0', async () => {
  const port = await freePort();
  const config = writeJson('starting.json', {
    kafka: { brokers: kafkaBrokers() },
    log: { topic: `${TAG}.starting.registrations`, partitions: 2, deadLetterTopic: `${TAG}.starting.dead-letters` },
    sources: [{ name: 'legacy', release: '2.1', topic: `${TAG}.never.public.location`, groupId: `${TAG}-starting` }],
    http: { port },
  });
  const run = startRun(config);
  // The only component is the ingest, which waits for its topic.
  const r = await readyzWhileStarting(`http://127.0.0.1:${port}`, ['ingest:legacy not started', 'bridge is starting'], run);
  assert.deepEqual(r, { status: 503, body: { ready: false, reasons: ['ingest:legacy not started', 'bridge is starting'] } });
  assert.deepEqual(await get(`http://127.0.0.1:${port}/healthz`), { status: 200, text: '{"status":"ok"}' });
  const exit = await run.term();
  assert.deepEqual(
    exit,
    { code: 0, signal: null },
    `SIGTERM during start-up is handled: the process stops the waiting ingest and exits 0 (not killed by the signal)${run.tail()}`,
  );
});

test('run through bin/ulbridge.js: ${VAR} expansion, ULBRIDGE_KAFKA_BROKERS, ULBRIDGE_HTTP_PORT and ULBRIDGE_LOG_LEVEL; /readyz 503 while starting and while draining; the documented metrics with their labels', async () => {
  const configurationMd = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
  for (const phrase of [
    '`ULBRIDGE_KAFKA_BROKERS` (comma-separated) replaces `kafka.brokers`',
    '`ULBRIDGE_HTTP_PORT` replaces `http.port`',
    'expands `${VAR}` references',
  ]) {
    assert.ok(configurationMd.includes(phrase), `docs/configuration.md documents: ${phrase}`);
  }
  const target = await freshPostgresDb(`${TAG}_env`);
  await createLocationTable(target.url, '4.0');
  const filePort = await freePort();
  const envPort = await freePort();
  // The file names an unreachable broker and one port; the environment replaces both, and the
  // target URL and the source topic come from ${VAR} references.
  const config = writeJson('env.json', {
    kafka: { brokers: ['127.0.0.1:1'] },
    log: { topic: logTopic, partitions: 4, deadLetterTopic: dlqTopic },
    sources: [{ name: 'legacy', release: '2.1', topic: '${CONTRACT_CDC_TOPIC}', groupId: `${TAG}-ingest` }],
    targets: [{ name: 'main', db: '${CONTRACT_TARGET_DB}', release: '4.0', hashSize: 9, groupId: `${TAG}-env-main` }],
    http: { port: filePort },
  });
  const env = {
    CONTRACT_CDC_TOPIC: cdcTopic,
    CONTRACT_TARGET_DB: target.url,
    ULBRIDGE_KAFKA_BROKERS: kafkaBrokers().join(','),
    ULBRIDGE_HTTP_PORT: String(envPort),
    ULBRIDGE_LOG_LEVEL: 'warn',
  };
  const run = startRun(config, env);
  const base = `http://127.0.0.1:${envPort}`;

  // Starting: the ingest waits for its Debezium topic (the connector is not registered yet).
  // The projection starts first, then the ingest waits for its topic.
  await readyzWhileStarting(base, ['ingest:legacy not started', 'bridge is starting'], run);
  assert.deepEqual(await get(`${base}/healthz`), { status: 200, text: '{"status":"ok"}' }, 'healthy while starting');
  await assert.rejects(
    get(`http://127.0.0.1:${filePort}/readyz`),
    'nothing listens on the port of the file: ULBRIDGE_HTTP_PORT replaced it',
  );

  await registerConnector(connectUrl(), connectorSpec);
  connectorRegistered = true;
  await waitHttp(`${base}/readyz`, (r) => r.status === 200, 'readyz once started', run, 120_000);
  assert.deepEqual(await get(`${base}/readyz`), { status: 200, text: '{"ready":true,"reasons":[]}' });
  await waitForIndependentEqual(
    legacySpec(),
    { url: target.url, release: '4.0' },
    { timeoutMs: 90_000, what: 'the env-configured target' },
  );
  for (let i = 0; i < 200; i++) await writer.churnOnce();

  // A change event without callid: one dead letter of the ingest, reason MISSING_FIELD.
  const [first] = await readTopic(kafkaBrokers(), cdcTopic, 1, { settleMs: 0 });
  const poison = JSON.parse(first!.value!);
  poison.after.id = 990001; // the bare envelope: ulbridge's connectors write values without schemas
  delete poison.after.callid;
  const producer = new Kafka({ clientId: 'contract-poison', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({ topic: cdcTopic, messages: [{ key: '{"id":990001}', value: JSON.stringify(poison) }] });
  await producer.disconnect();
  await waitForIndependentEqual(
    legacySpec(),
    { url: target.url, release: '4.0' },
    { timeoutMs: 90_000, what: 'the env-configured target after churn' },
  );

  // The metrics the README's "Watch" bullet and the runbook name, with the labels they name.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const watch = readme.split(/\n- /).find((b) => b.startsWith('**Watch**'));
  assert.ok(watch, 'README has the **Watch** bullet');
  const documented = [...new Set([...watch.matchAll(/`(ulbridge_[a-z_]+)/g)].map((m) => m[1]!))].sort();
  assert.deepEqual(
    documented,
    [
      'ulbridge_apply_latency_seconds',
      'ulbridge_consumer_lag',
      'ulbridge_dead_letters_total',
      'ulbridge_events_in_total',
      'ulbridge_events_out_total',
      'ulbridge_last_event_timestamp_seconds',
    ],
    'the metric names of the README "Watch" bullet (a new one needs a check below)',
  );
  for (const phrase of [
    '`ulbridge_events_in_total` / `ulbridge_events_out_total` per\n  stage and outcome',
    '`ulbridge_consumer_lag` per partition',
    '`ulbridge_dead_letters_total` per reason',
  ]) {
    assert.ok(watch.includes(phrase), `README "Watch" says ${JSON.stringify(phrase)}`);
  }
  let text: string;
  const deadline = Date.now() + 30_000;
  for (;;) {
    text = (await get(`${base}/metrics`)).text;
    if ((metricValue(text, 'ulbridge_dead_letters_total', { pipeline: 'legacy', reason: 'MISSING_FIELD' }) ?? 0) >= 1) break;
    assert.ok(Date.now() < deadline, `the dead letter shows in /metrics within 30 s:\n${text.slice(0, 3000)}`);
    await sleep(500);
  }
  const all = samples(text);
  const has = (name: string, labels: Record<string, string>): boolean =>
    all.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  for (const stage of ['ingest', 'project']) {
    const pipeline = stage === 'ingest' ? 'legacy' : 'main';
    assert.ok(
      (metricValue(text, 'ulbridge_events_in_total', { stage, pipeline }) ?? 0) > 0,
      `ulbridge_events_in_total{stage="${stage}",pipeline="${pipeline}"} counts events`,
    );
    const outcomes = all.filter(
      (s) => s.name === 'ulbridge_events_out_total' && s.labels.stage === stage && s.labels.pipeline === pipeline,
    );
    assert.ok(
      outcomes.length > 0 && outcomes.every((s) => typeof s.labels.outcome === 'string' && s.labels.outcome.length > 0),
      `ulbridge_events_out_total has an outcome label per stage (${stage})`,
    );
    assert.ok(
      has('ulbridge_consumer_lag', { stage, pipeline, partition: '0' }),
      `ulbridge_consumer_lag{stage="${stage}",partition="0"} present`,
    );
    assert.ok(
      (metricValue(text, 'ulbridge_last_event_timestamp_seconds', { stage, pipeline }) ?? 0) > 1_700_000_000,
      `ulbridge_last_event_timestamp_seconds{stage="${stage}"} is a unix time`,
    );
  }
  assert.ok(
    (metricValue(text, 'ulbridge_events_out_total', { stage: 'project', pipeline: 'main', outcome: 'applied' }) ?? 0) > 0,
    'project outcome "applied" counts the applied events',
  );
  assert.ok(
    (metricValue(text, 'ulbridge_events_out_total', { stage: 'project', pipeline: 'main', outcome: 'tombstone' }) ?? 0) > 0,
    'project outcome "tombstone" counts the deletes\' tombstones',
  );
  assert.ok(
    has('ulbridge_events_out_total', { stage: 'project', pipeline: 'main', outcome: 'kept_target' }),
    'the runbook\'s outcome "kept_target" is exported by the projection',
  );
  for (const p of ['0', '1', '2', '3'])
    assert.ok(
      has('ulbridge_consumer_lag', { stage: 'project', pipeline: 'main', topic: logTopic, partition: p }),
      `project lag of log partition ${p}`,
    );
  assert.ok(
    (metricValue(text, 'ulbridge_apply_latency_seconds_count', { target: 'main' }) ?? 0) > 0,
    'ulbridge_apply_latency_seconds observed commits',
  );
  assert.equal(
    metricValue(text, 'ulbridge_dead_letters_total', { pipeline: 'legacy', reason: 'MISSING_FIELD' }),
    1,
    'exactly one dead letter, per reason',
  );

  // Draining: a batch is held in flight by a lock on the target's offsets rows; SIGTERM; /readyz
  // says not ready until the batch is committed and the process has left.
  const locker = new pg.Client({ connectionString: target.url });
  await locker.connect();
  let offsetsAtLock: number;
  try {
    await locker.query('BEGIN');
    const locked = await locker.query('SELECT next_offset::text AS n FROM ulbridge_main.offsets FOR UPDATE');
    offsetsAtLock = locked.rows.reduce((n: number, r: { n: string }) => n + Number(r.n), 0);
    for (let i = 0; i < 40; i++) await writer.churnOnce();
    const blockedBy = async (): Promise<number> =>
      (
        await locker.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ulbridge-main' AND wait_event_type = 'Lock'",
        )
      ).rows[0].n as number;
    const until = Date.now() + 60_000;
    while ((await blockedBy()) === 0) {
      assert.ok(Date.now() < until, `a projection batch waits on the offsets lock within 60 s${run.tail()}`);
      await sleep(100);
    }
    run.child.kill('SIGTERM');
    const draining = await waitHttp(`${base}/readyz`, (r) => r.status !== 200, 'readyz while draining', run, 30_000);
    assert.equal(draining.status, 503);
    const body = JSON.parse(draining.text);
    assert.equal(body.ready, false);
    assert.ok(
      body.reasons.some((x: string) => /^bridge is (draining|stopping)$/.test(x)),
      `reasons say the bridge is draining: ${draining.text}`,
    );
    assert.equal(run.alive, true, 'the process waits for the batch in flight');
  } finally {
    await locker.query('COMMIT').catch(() => undefined);
    await locker.end().catch(() => undefined);
  }
  const exit = await run.waitExit();
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM drains and exits 0${run.tail()}`);
  // The batch held during the drain was committed, not rolled back: the stored offsets moved past
  // where they were when the lock was taken (changes not yet fetched wait for the next start).
  const offsetsAfter = await withPg(target.url, async (q) =>
    Number((await q.query('SELECT sum(next_offset)::bigint::text AS n FROM ulbridge_main.offsets')).rows[0].n),
  );
  assert.ok(
    offsetsAfter > offsetsAtLock,
    `the batch in flight at SIGTERM was committed: stored offsets ${offsetsAtLock} -> ${offsetsAfter}`,
  );
  const c = await compareIndependently(legacySpec(), { url: target.url, release: '4.0' });
  assert.equal(c.target.duplicates, 0, describeComparison(c));
  // ULBRIDGE_LOG_LEVEL=warn: no info lines (such as "ulbridge running") on stderr.
  const levels = run.log
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).level as number);
  assert.ok(
    levels.every((l) => l >= 40),
    `only warn and above with ULBRIDGE_LOG_LEVEL=warn: levels ${[...new Set(levels)].join(',')}`,
  );
  await target.drop();
});

test('/healthz 503 and /readyz 503 when a component failed for good (its consumer group is held by an incompatible member)', async () => {
  const target = await freshPostgresDb(`${TAG}_health`);
  await createLocationTable(target.url, '4.0');
  const group = `${TAG}-health-main`;
  // Another application holds the projection's consumer group with an assignment protocol kafkajs'
  // default does not speak: the projection has failed for good while the process runs on.
  const kafka = new Kafka({ clientId: 'contract-squatter', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const squatter = await squatGroup(kafka, group, logTopic);
  try {
    const port = await freePort();
    const config = writeJson('health.json', {
      kafka: { brokers: kafkaBrokers() },
      log: { topic: logTopic, partitions: 4, deadLetterTopic: dlqTopic },
      targets: [{ name: 'main', db: target.url, release: '4.0', hashSize: 9, groupId: group }],
      http: { port },
    });
    const run = startRun(config);
    const health = await waitHttp(`http://127.0.0.1:${port}/healthz`, (r) => r.status === 503, 'healthz after the failure', run, 90_000);
    assert.equal(health.text, '{"status":"failed"}');
    const ready = await get(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    const body = JSON.parse(ready.text);
    assert.equal(body.ready, false);
    assert.ok(
      body.reasons.some((x: string) => x.startsWith('project:main failed: ')),
      `readyz names the failed component: ${ready.text}`,
    );
    assert.equal(run.alive, true, 'the process keeps serving /healthz');
    const exit = await run.term();
    assert.equal(exit.signal, null, `SIGTERM is handled${run.tail()}`);
  } finally {
    await squatter.disconnect().catch(() => undefined);
    await target.drop();
  }
});

test('scale-out: two `ulbridge run` processes, same config and groups, one PostgreSQL target: both apply, final equality, no duplicates', async () => {
  assert.ok(connectorRegistered, 'runs after the first test registered the connector');
  const target = await freshPostgresDb(`${TAG}_scale`);
  await createLocationTable(target.url, '4.0');
  const config = writeJson('scale.json', {
    kafka: { brokers: kafkaBrokers() },
    log: { topic: logTopic, partitions: 4, deadLetterTopic: dlqTopic },
    sources: [{ name: 'legacy', release: '2.1', topic: cdcTopic, groupId: `${TAG}-ingest` }],
    targets: [{ name: 'main', db: target.url, release: '4.0', hashSize: 9, groupId: `${TAG}-scale-main` }],
    http: { port: 0 },
  });
  const [pa, pb] = [await freePort(), await freePort()];
  const a = startRun(config, { ULBRIDGE_HTTP_PORT: String(pa), ULBRIDGE_LOG_LEVEL: 'warn' });
  await waitHttp(`http://127.0.0.1:${pa}/readyz`, (r) => r.status === 200, 'process A ready', a, 120_000);
  const b = startRun(config, { ULBRIDGE_HTTP_PORT: String(pb), ULBRIDGE_LOG_LEVEL: 'warn' });
  await waitHttp(`http://127.0.0.1:${pb}/readyz`, (r) => r.status === 200, 'process B ready', b, 120_000);
  await waitForIndependentEqual(legacySpec(), { url: target.url, release: '4.0' }, { timeoutMs: 120_000, what: 'the scaled-out target' });
  const applied = async (port: number): Promise<number> =>
    metricValue((await get(`http://127.0.0.1:${port}/metrics`)).text, 'ulbridge_events_out_total', {
      stage: 'project',
      pipeline: 'main',
      outcome: 'applied',
    }) ?? 0;
  const before = [await applied(pa), await applied(pb)];
  // Churn across many AORs (all log partitions) once both hold partitions.
  for (let i = 0; i < 600; i++) await writer.churnOnce();
  const c = await waitForIndependentEqual(
    legacySpec(),
    { url: target.url, release: '4.0' },
    { timeoutMs: 120_000, what: 'the scaled-out target after churn' },
  );
  assert.equal(c.target.duplicates, 0);
  assert.equal(c.target.rows, c.target.live + c.target.expired);
  const after = [await applied(pa), await applied(pb)];
  assert.ok(
    after[0]! > before[0]! && after[1]! > before[1]!,
    `both processes applied churn events: A ${before[0]} -> ${after[0]}, B ${before[1]} -> ${after[1]}`,
  );
  const rows = await withPg(
    target.url,
    async (q) => (await q.query('SELECT count(*)::int AS n, count(DISTINCT contact_id)::int AS ids FROM location')).rows[0],
  );
  assert.equal(rows.n, rows.ids, 'no duplicate contact ids');
  assert.equal(rows.n, c.legacy.rows - c.legacy.expired + c.target.expired, 'one target row per live legacy row');
  assert.deepEqual(await b.term(), { code: 0, signal: null }, `B drains and exits 0${b.tail()}`);
  assert.deepEqual(await a.term(), { code: 0, signal: null }, `A drains and exits 0${a.tail()}`);
  const d = await ulbridge(['diff', '--source', legacy.url, '--source-release', '2.1', '--target', target.url, '--target-release', '4.0']);
  assert.equal(d.code, 0, d.stdout + d.stderr);
  await target.drop();
});

// ---------------------------------------------------------------------------------------------
// docs/errors.md: every code a user can trigger from the CLI gives exactly `ulbridge: CODE: ...`
// and exit 2.

/** Codes of docs/errors.md's table (first column). */
function documentedCodes(): string[] {
  const md = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const codes: string[] = [];
  for (const line of md.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const first = line.split('|')[1]!;
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_*]+)`/g)) codes.push(m[1]!);
  }
  return codes;
}

/** Documented codes no CLI invocation of a user reaches, and why. */
const NOT_FROM_CLI: Record<string, string> = {
  INVALID_STATE: 'an ingest started twice: a programming error inside the service, no command reaches it',
  INTERNAL: 'a bug by definition',
  'STACK_*':
    'the local test stack (`ulbridge stack`); its failures are tested by test/integration/stack-failures.test.ts, and starting stacks here would disturb the shared one',
  INGEST_START_FAILED:
    'an ingest whose start fails without a coded cause (Kafka errors while joining); no deterministic trigger from the CLI',
  CONNECTOR_REJECTED:
    'needs a connector config the shared Kafka Connect refuses; `ulbridge connect apply` is the subject of test/integration/connect.test.ts',
  CONNECTOR_NOT_RUNNING: 'needs a connector that fails on the shared Kafka Connect; see test/integration/connect.test.ts',
  CAPTURE_PASSWORD_UNAVAILABLE:
    'resolving a capture.password reference ulbridge itself needs; unit-tested in test/unit/connect.test.ts (no short CLI path reaches it before a database connection)',
  CLUSTER_PROTOCOL_UNSUPPORTED:
    "a registrar's packet of a version ulbridge does not implement: logged and counted by the running node, never a CLI exit; see test/unit/cluster-codec.test.ts and test/unit/cluster-node.test.ts",
  CLUSTER_PACKET_MALFORMED:
    "a registrar's packet that does not decode: logged and counted by the running node, never a CLI exit; see test/unit/cluster-codec.test.ts and test/unit/cluster-node.test.ts",
  STOPPED:
    'internal, never shown: a stage stopped while starting; the SIGTERM-while-starting test checks that `run` then exits 0 without an error line',
};

interface ErrorCase {
  code: string;
  /** Names the subtest when one code has several cases. */
  name?: string;
  args: string[] | (() => Promise<string[]>);
  env?: NodeJS.ProcessEnv;
  /** The exact error line (a pattern only where the line carries the driver's own error text). */
  line: string | RegExp | (() => string);
}

/** A local HTTP server that answers 500 to everything: Kafka Connect answering unexpectedly. */
let brokenConnect: { url: string; close(): Promise<void> } | null = null;
async function brokenConnectUrl(): Promise<string> {
  if (!brokenConnect) {
    const { createServer: createHttpServer } = await import('node:http');
    const server = createHttpServer((_req, res) => res.writeHead(500).end('boom'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    brokenConnect = { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  return brokenConnect.url;
}

/** A config with a capture of a table that does not exist in the legacy database. */
function captureConfig(): string {
  return writeJson('capture.json', {
    kafka: { brokers: kafkaBrokers() },
    connect: { url: connectUrl() },
    sources: [
      {
        name: 'legacy',
        release: '2.1',
        groupId: `${TAG}-capture-ingest`,
        capture: { db: legacy.url, table: 'public.contract_nosuch', connector: `${TAG}_capture` },
      },
    ],
    targets: [{ name: 'main', db: legacy.url, release: '4.0', groupId: `${TAG}-capture-main` }],
  });
}

let errorFixtures: {
  pgNoTable: FreshDb;
  pg21: FreshDb;
  pgDenied: FreshDb;
  mariaMyisam: FreshDb;
  /** A 2.1 table whose last_modified is timestamp(3): Debezium sends it in milliseconds. */
  pgMillis: FreshDb;
  deniedRole: string;
} | null = null;

async function fixtures(): Promise<NonNullable<typeof errorFixtures>> {
  if (errorFixtures) return errorFixtures;
  const pgNoTable = await freshPostgresDb(`${TAG}_notable`);
  const pg21 = await freshPostgresDb(`${TAG}_pg21`);
  await createLocationTable(pg21.url, '2.1');
  const pgDenied = await freshPostgresDb(`${TAG}_denied`);
  await createLocationTable(pgDenied.url, '4.0');
  const deniedRole = `${TAG}_noaccess`;
  await withPg(pgDenied.url, async (c) => {
    await c.query(`DROP ROLE IF EXISTS ${deniedRole}`);
    await c.query(`CREATE ROLE ${deniedRole} LOGIN`);
    await c.query(`GRANT SELECT (username, domain) ON location TO ${deniedRole}`);
  });
  const mariaMyisam = await freshMariaDb(`${TAG}_myisam`);
  await createLocationTable(mariaMyisam.url, '4.0');
  await withMysql(mariaMyisam.url, (c) => c.query('ALTER TABLE location ENGINE=MyISAM'));
  const pgMillis = await freshPostgresDb(`${TAG}_millis`);
  await createLocationTable(pgMillis.url, '2.1');
  await withPg(pgMillis.url, (c) => c.query('ALTER TABLE location ALTER COLUMN last_modified TYPE timestamp(3)'));
  errorFixtures = { pgNoTable, pg21, pgDenied, mariaMyisam, pgMillis, deniedRole };
  return errorFixtures;
}

function withUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}

const pgHost = (): string => hostPort(postgresUrl());
/** The port another process holds in the CLUSTER_LISTEN_FAILED case. */
let clusterPort = 0;
const CASES: ErrorCase[] = [
  {
    code: 'USAGE',
    args: ['hash', '--bogus', 'x'],
    line: "ulbridge: USAGE: unknown option '--bogus' (see ulbridge --help, or ulbridge COMMAND --help)",
  },
  {
    code: 'BAD_CONTACT_ID',
    args: ['id', 'decode', '-5'],
    line: 'ulbridge: BAD_CONTACT_ID: contact id -5 is negative: contact ids are 0 to 4611686018427387903',
  },
  {
    code: 'BAD_CONTACT_ID_PART',
    args: ['id', 'encode', '--aorhash', '70000', '--rlabel', '1', '--clabel', '1'],
    line: 'ulbridge: BAD_CONTACT_ID_PART: aorhash must be an integer from 0 to 65535, got 70000',
  },
  {
    code: 'BAD_HEX',
    args: ['hash', '--hex', 'abc'],
    line: 'ulbridge: BAD_HEX: "abc" is not hex bytes: give an even number of hex digits, e.g. 63616c6c6565',
  },
  {
    code: 'BAD_HASH_SIZE',
    args: ['hash', '--hash-size', '17', 'x'],
    line: 'ulbridge: BAD_HASH_SIZE: --hash-size must be an integer from 0 to 16 (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "17"',
  },
  {
    code: 'BAD_OPTION',
    args: ['demo', '--rows', '0'],
    line: 'ulbridge: BAD_OPTION: --rows must be an integer from 1 to 10000000, got "0"',
  },
  {
    code: 'BAD_TIMEZONE',
    args: ['verify', '--db', 'postgres://x@127.0.0.1:1/x', '--release', '4.0', '--hash-size', '9', '--timezone', 'Mars/Olympus'],
    line: 'ulbridge: BAD_TIMEZONE: --timezone "Mars/Olympus" is not an IANA time zone: give the registrar host\'s zone, e.g. UTC or Europe/Berlin',
  },
  {
    code: 'BAD_TABLE_NAME',
    args: ['verify', '--db', 'postgres://x@127.0.0.1:1/x', '--release', '4.0', '--hash-size', '9', '--table', 'a;b'],
    line: 'ulbridge: BAD_TABLE_NAME: --table "a;b" is not a plain table name: use letters, digits and _ (at most 63 each), optionally schema.table',
  },
  {
    code: 'BAD_DB_URL',
    args: ['verify', '--db', 'http://x/y', '--release', '4.0', '--hash-size', '9'],
    line: 'ulbridge: BAD_DB_URL: --db scheme "http:" is not supported: give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE',
  },
  {
    code: 'BAD_DETAILS',
    args: ['verify', '--db', 'postgres://x@127.0.0.1:1/x', '--release', '4.0', '--hash-size', '9', '--details', '-1'],
    line: 'ulbridge: BAD_DETAILS: --details must be an integer from 0 to 100000, got "-1"',
  },
  {
    code: 'BAD_NOW',
    args: [
      'diff',
      '--source',
      'postgres://x@127.0.0.1:1/x',
      '--source-release',
      '2.1',
      '--target',
      'postgres://x@127.0.0.1:1/x',
      '--target-release',
      '4.0',
      '--now',
      'abc',
    ],
    line: 'ulbridge: BAD_NOW: --now must be unix seconds from 0 to 1099511627776, got "abc"',
  },
  {
    code: 'BAD_DEAD_LETTERS_SINCE',
    args: async () => [
      'status',
      '--config',
      writeJson('dls.json', {
        kafka: { brokers: kafkaBrokers() },
        log: { topic: logTopic },
        targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0' }],
      }),
      '--dead-letters-since',
      'yesterday',
    ],
    line: 'ulbridge: BAD_DEAD_LETTERS_SINCE: --dead-letters-since must be an ISO 8601 time (e.g. 2026-11-29T15:00:00Z) or unix seconds, got "yesterday"',
  },
  {
    code: 'UNKNOWN_RELEASE',
    args: ['verify', '--db', 'postgres://x@127.0.0.1:1/x', '--release', '9.9', '--hash-size', '9'],
    line: 'ulbridge: UNKNOWN_RELEASE: unknown release "9.9": --release takes one of 2.2, 2.3, 2.4, 3.x, 4.0',
  },
  {
    code: 'DB_UNREACHABLE',
    args: ['verify', '--db', 'postgres://x@127.0.0.1:1/x', '--release', '4.0', '--hash-size', '9'],
    line: 'ulbridge: DB_UNREACHABLE: cannot connect to PostgreSQL at 127.0.0.1:1 (ECONNREFUSED): check that the server is running and that --db names the right host and port',
  },
  {
    code: 'DB_AUTH_FAILED',
    args: () =>
      Promise.resolve([
        'verify',
        '--db',
        `mysql://contract_nosuch:bad@${hostPort(mariaDbUrl())}/x`,
        '--release',
        '4.0',
        '--hash-size',
        '9',
      ]),
    line: () =>
      `ulbridge: DB_AUTH_FAILED: MySQL/MariaDB at ${hostPort(mariaDbUrl())} refused user "contract_nosuch" (Access denied for user 'contract_nosuch'@'127.0.0.1' (using password: YES)): check the user and password in --db and the server's access rules`,
  },
  {
    code: 'DB_NOT_FOUND',
    args: () =>
      Promise.resolve(['verify', '--db', `postgres://postgres@${pgHost()}/contract_nosuchdb`, '--release', '4.0', '--hash-size', '9']),
    line: () =>
      `ulbridge: DB_NOT_FOUND: database "contract_nosuchdb" does not exist on PostgreSQL at ${pgHost()}: check the database name in --db`,
  },
  {
    code: 'DB_QUERY_FAILED',
    args: async () => {
      const f = await fixtures();
      return ['verify', '--db', withUser(f.pgDenied.url, f.deniedRole), '--release', '4.0', '--hash-size', '9'];
    },
    line: () => `ulbridge: DB_QUERY_FAILED: query failed on PostgreSQL at ${pgHost()}: permission denied for table version`,
  },
  {
    code: 'TABLE_MISSING',
    args: async () => ['verify', '--db', (await fixtures()).pgNoTable.url, '--release', '4.0', '--hash-size', '9'],
    line: () =>
      `ulbridge: TABLE_MISSING: table "location" does not exist in database "${errorFixtures!.pgNoTable.name}" on PostgreSQL at ${pgHost()}: check --table (usrloc uses the table named in save(), "location" by default)`,
  },
  {
    code: 'TABLE_SHAPE',
    args: async () => ['verify', '--db', (await fixtures()).pg21.url, '--release', '4.0', '--hash-size', '9'],
    line: 'ulbridge: TABLE_SHAPE: table "location" lacks column(s) contact_id, kv_store that OpenSIPS 4.0 reads at preload: it looks like a 2.1 table (key `id`, version 1009), which has no contact ids',
  },
  {
    code: 'TARGET_UNSUPPORTED',
    args: async () => [
      'run',
      '--config',
      writeJson('myisam.json', {
        kafka: { brokers: kafkaBrokers() },
        log: { topic: `${TAG}.myisam.registrations`, partitions: 2, deadLetterTopic: `${TAG}.myisam.dead-letters` },
        targets: [{ name: 'maria', db: (await fixtures()).mariaMyisam.url, release: '4.0', groupId: `${TAG}-myisam` }],
        http: { port: 0 },
      }),
    ],
    line: 'ulbridge: TARGET_UNSUPPORTED: target "maria": table "location" uses the MyISAM engine; ulbridge commits rows, labels and offsets in one transaction, which needs InnoDB: ALTER TABLE location ENGINE=InnoDB',
  },
  {
    code: 'CLUSTER_LISTEN_FAILED',
    args: async () => {
      // Another process holds the port of targets[].cluster.listen.
      const { createServer } = await import('node:net');
      const holder = createServer();
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
      clusterPort = (holder.address() as { port: number }).port;
      holder.unref();
      return [
        'run',
        '--config',
        writeJson('cluster-port.json', {
          kafka: { brokers: kafkaBrokers() },
          log: { topic: `${TAG}.cluster.registrations`, partitions: 2, deadLetterTopic: `${TAG}.cluster.dead-letters` },
          targets: [
            {
              name: 'pushed',
              db: (await fixtures()).pgDenied.url,
              release: '4.0',
              groupId: `${TAG}-cluster`,
              cluster: {
                clusterId: 1,
                nodeId: 9,
                listen: `bin:127.0.0.1:${clusterPort}`,
                opensips: '4.0',
                nodes: [{ nodeId: 1, url: 'bin:127.0.0.1:9' }],
              },
            },
          ],
          http: { port: 0 },
        }),
      ];
    },
    line: () =>
      `ulbridge: CLUSTER_LISTEN_FAILED: target "pushed": cannot listen on the cluster bin socket 127.0.0.1:${clusterPort}: listen EADDRINUSE: address already in use 127.0.0.1:${clusterPort}; another process (an OpenSIPS bin socket, another ulbridge) holds it: stop it or choose another port. The registrars must reach ulbridge's node 9 at that url (their neighbor_node_info / clusterer table)`,
  },
  {
    code: 'CONFIG_UNREADABLE',
    args: () => Promise.resolve(['run', '--config', join(dir, 'nope.json')]),
    line: () =>
      `ulbridge: CONFIG_UNREADABLE: cannot read config file ${join(dir, 'nope.json')}: ENOENT: no such file or directory, open '${join(dir, 'nope.json')}'`,
  },
  {
    code: 'CONFIG_INVALID',
    args: () =>
      Promise.resolve([
        'run',
        '--config',
        writeJson('unset.json', {
          kafka: { brokers: ['127.0.0.1:1'] },
          targets: [{ name: 'main', db: '${CONTRACT_UNSET_DB}', release: '4.0' }],
        }),
      ]),
    line: 'ulbridge: CONFIG_INVALID: config targets[0].db: environment variable CONTRACT_UNSET_DB is not set',
  },
  {
    code: 'KAFKA_UNREACHABLE',
    args: () =>
      Promise.resolve([
        'status',
        '--config',
        writeJson('nokafka.json', {
          kafka: { brokers: ['127.0.0.1:1'] },
          targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0' }],
        }),
      ]),
    line: /^ulbridge: KAFKA_UNREACHABLE: cannot query Kafka at 127\.0\.0\.1:1 \(is it up\? check kafka\.brokers\): .+$/,
  },
  {
    code: 'KAFKA_UNREACHABLE',
    name: 'KAFKA_UNREACHABLE (run, kafka.connectTimeoutSeconds)',
    args: () =>
      Promise.resolve([
        'run',
        '--config',
        writeJson('nokafka-run.json', {
          kafka: { brokers: ['127.0.0.1:1'], connectTimeoutSeconds: 2 },
          targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0' }],
          http: { port: 0 },
        }),
      ]),
    line: 'ulbridge: KAFKA_UNREACHABLE: no broker of 127.0.0.1:1 answered within 2 s: Connection error: connect ECONNREFUSED 127.0.0.1:1 (is Kafka up? check kafka.brokers; kafka.connectTimeoutSeconds sets the wait)',
  },
  {
    code: 'BAD_TIMEOUT',
    args: () => Promise.resolve(['connect', 'apply', '--config', captureConfig(), '--timeout', '0']),
    line: 'ulbridge: BAD_TIMEOUT: --timeout must be an integer from 1 to 3600 seconds, got "0"',
  },
  {
    code: 'BAD_CONNECT_URL',
    args: () => Promise.resolve(['connect', 'status', '--config', captureConfig(), '--connect', 'ftp://x']),
    line: 'ulbridge: BAD_CONNECT_URL: --connect must be an http:// or https:// URL, got "ftp://x"',
  },
  {
    code: 'CONNECT_UNREACHABLE',
    args: () => Promise.resolve(['connect', 'status', '--config', captureConfig(), '--connect', 'http://127.0.0.1:9']),
    line: 'ulbridge: CONNECT_UNREACHABLE: Kafka Connect at http://127.0.0.1:9 does not answer (is it up? check connect.url or --connect): fetch failed',
  },
  {
    code: 'CONNECT_ERROR',
    args: async () => ['connect', 'status', '--config', captureConfig(), '--connect', await brokenConnectUrl()],
    line: () => `ulbridge: CONNECT_ERROR: GET ${brokenConnect!.url}/connectors/${TAG}_capture/status answered 500: boom`,
  },
  {
    code: 'CAPTURE_TABLE',
    args: () => Promise.resolve(['connect', 'apply', '--config', captureConfig(), '--timeout', '5']),
    line: 'ulbridge: CAPTURE_TABLE: sources[0].capture: table public.contract_nosuch does not exist (check sources[0].capture.table and .db)',
  },
  {
    code: 'CAPTURE_COLUMN_UNITS',
    args: async () => [
      'connect',
      'apply',
      '--timeout',
      '5',
      '--config',
      writeJson('units.json', {
        kafka: { brokers: kafkaBrokers() },
        connect: { url: connectUrl() },
        sources: [{ name: 'legacy', release: '2.1', capture: { db: (await fixtures()).pgMillis.url, connector: `${TAG}_units` } }],
        targets: [{ name: 'main', db: legacy.url, release: '4.0' }],
      }),
    ],
    line: "ulbridge: CAPTURE_COLUMN_UNITS: sources[0].capture: table location: column last_modified is timestamp(3): Debezium sends it in milliseconds, and values without schemas are read as a PostgreSQL timestamp's microseconds (timestamp(4) to timestamp(6)). Set sources[0].capture.valueSchemas: true: each value then states its unit",
  },
  {
    code: 'LOG_TOPIC_MISMATCH',
    args: async () => {
      const admin = new Kafka({ clientId: 'contract-admin', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: `${TAG}.three`, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        waitForLeaders: true,
      });
      await admin.disconnect();
      return [
        'run',
        '--config',
        writeJson('mismatch.json', {
          kafka: { brokers: kafkaBrokers() },
          log: { topic: `${TAG}.three`, partitions: 4, deadLetterTopic: dlqTopic },
          targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0', groupId: `${TAG}-mismatch` }],
          http: { port: 0 },
        }),
      ];
    },
    line: `ulbridge: LOG_TOPIC_MISMATCH: log topic "${TAG}.three" has 3 partitions but 4 are configured: AOR partitioning needs the count the log was written with; configure 3 or write a new log topic`,
  },
  {
    code: 'TOPIC_MISSING',
    args: () =>
      Promise.resolve([
        'status',
        '--config',
        writeJson('notopic.json', {
          kafka: { brokers: kafkaBrokers() },
          log: { topic: `${TAG}.never` },
          targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0' }],
        }),
      ]),
    line: () =>
      `ulbridge: TOPIC_MISSING: topic "${TAG}.never" does not exist on ${kafkaBrokers().join(',')}: check log.topic (ulbridge run creates it: start it once with this config)`,
  },
  {
    code: 'TOPIC_CREATE_FAILED',
    args: () =>
      Promise.resolve([
        'run',
        '--config',
        writeJson('badtopic.json', {
          kafka: { brokers: kafkaBrokers() },
          log: { topic: 'contract bad topic!', partitions: 2, deadLetterTopic: dlqTopic },
          targets: [{ name: 'main', db: 'postgres://x@127.0.0.1:1/x', release: '4.0', groupId: `${TAG}-badtopic` }],
          http: { port: 0 },
        }),
      ]),
    line: 'ulbridge: TOPIC_CREATE_FAILED: could not create contract bad topic!: Topic creation errors',
  },
];

test('docs/errors.md: every code a user can trigger from the CLI is exactly `ulbridge: CODE: message`, exit 2', async (t) => {
  const documented = new Set(documentedCodes());
  const covered = CASES.map((c) => c.code);
  assert.deepEqual(
    [...documented].sort(),
    [...new Set([...covered, ...Object.keys(NOT_FROM_CLI)])].sort(),
    'every code of docs/errors.md is either triggered below or listed in NOT_FROM_CLI with the reason',
  );
  for (const c of CASES) {
    await t.test(c.name ?? c.code, async () => {
      const args = typeof c.args === 'function' ? await c.args() : c.args;
      const r = await ulbridge(args, c.env ?? {});
      assert.equal(r.code, 2, `${c.code}: exit 2 (${r.stderr})`);
      assert.equal(r.stdout, '', `${c.code}: nothing on stdout`);
      // `run` may log JSON lines before it fails; the error itself is the last line, not JSON.
      const lines = r.stderr.trimEnd().split('\n');
      const last = lines.at(-1)!;
      assert.ok(
        lines.slice(0, -1).every((l) => l.startsWith('{')),
        `${c.code}: only JSON log lines before the error line:\n${r.stderr}`,
      );
      if (c.line instanceof RegExp) assert.match(last, c.line);
      else assert.equal(last, typeof c.line === 'function' ? c.line() : c.line);
    });
  }
  await brokenConnect?.close();
  if (errorFixtures) {
    const f = errorFixtures;
    await withPg(f.pgDenied.url, (q) => q.query(`REVOKE ALL ON location FROM ${f.deniedRole}`));
    for (const d of [f.pgNoTable, f.pg21, f.pgDenied, f.mariaMyisam, f.pgMillis]) await d.drop().catch(() => undefined);
    await withPg(postgresUrl(), (q) => q.query(`DROP ROLE IF EXISTS ${f.deniedRole}`)).catch(() => undefined);
  }
});
