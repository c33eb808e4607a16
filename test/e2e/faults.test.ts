/**
 * Issue 9, item 4: the fault suite on the real stack, under load.
 *
 * This file starts stacks of its OWN (it kills services): stack "src" (PostgreSQL with the legacy
 * 2.1 table, Kafka, Kafka Connect + Debezium) and stack "tgt" (a second PostgreSQL holding the 4.0
 * target table), so the source and the target database can fail separately. `ulbridge run` (the
 * built CLI, bin/ulbridge.js) reaches Kafka and the target database through in-process TCP proxies
 * (test/support/tcpProxy.ts); Kafka has an extra listener that advertises the proxy's port, so every
 * byte between ulbridge and the broker crosses the proxy.
 *
 * A registrar emulation (LegacyTableWriter) churns the legacy table at LOAD_RATE changes/s while
 * each fault happens. After each fault, with the load stopped:
 * - the target equals the legacy table by an independent comparison (test/support/independentCompare.ts:
 *   plain SQL on both tables, no product code): nothing lost, nothing duplicated, nothing changed;
 * - no binding left unchanged in the legacy table since the previous check changed its contact id;
 * - `ulbridge diff` exits 0 and `ulbridge status` exits 0 (READY);
 * - every `ulbridge run` process that was not killed on purpose is still running.
 * The faults run in sequence on one bridge, each its own test; every wait has a deadline.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LegacyTableWriter } from '../../src/demo/legacyTable.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { Workload } from '../../src/demo/workload.js';
import { registerConnector } from '../../src/stack/connectors.js';
import { startStack } from '../../src/stack/stack.js';
import type { Stack } from '../../src/stack/types.js';
import {
  describeComparison,
  idsMovedForUnchanged,
  legacyFingerprints,
  targetIdsByBinding,
  waitForIndependentEqual,
  type TableSpec,
} from '../support/independentCompare.js';
import { TcpProxy } from '../support/tcpProxy.js';
import { KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS } from '../support/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'ulbridge.js');
/** Registrar changes per second while a fault happens. */
const LOAD_RATE = 150;
const ROWS = 3_000;
const AORS = 2_000;
/** How long the target may take to equal the legacy table after a fault (kafkajs's 30 s session timeout included). */
const CONVERGE_MS = 90_000;
const FAULT_TEST_TIMEOUT = 300_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'ulbridge-faults-'));
chmodSync(work, 0o755); // the postgres OS user (when we run as root) must reach the stacks below

/** A pg session that reconnects on its next query after an error (the source database restarts under it). */
class ReconnectingPg {
  private client: pg.Client | undefined;
  constructor(private readonly url: string) {}

  async query(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    if (!this.client) {
      const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
      c.on('error', () => {
        if (this.client === c) this.client = undefined;
      });
      await c.connect();
      this.client = c;
    }
    const c = this.client;
    try {
      return await c.query(text, values);
    } catch (e) {
      // Whatever went wrong, start over on a fresh session (a SQL error would recur the same way).
      if (this.client === c) this.client = undefined;
      await c.end().catch(() => undefined);
      throw e;
    }
  }

  async end(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

/** The registrar emulation: `rate` changes per second in ticks of 100 ms until stopped. */
class Load {
  changes = 0;
  errors = 0;
  lastError = '';
  private running = false;
  private loop: Promise<void> | undefined;
  constructor(private readonly writer: LegacyTableWriter) {}

  start(rate = LOAD_RATE): void {
    if (this.running) return;
    this.running = true;
    const perTick = Math.max(1, Math.round(rate / 10));
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now();
        for (let i = 0; i < perTick && this.running; i++) {
          try {
            await this.writer.churnOnce();
            this.changes++;
          } catch (e) {
            // The registrar's database is away (source restart): it retries on the next tick.
            this.errors++;
            this.lastError = (e as Error).message;
            break;
          }
        }
        const left = 100 - (Date.now() - t0);
        await sleep(left > 0 ? left : 0);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** One `ulbridge run` child process, JSON logs (info) in its own file. */
class Bridge {
  readonly child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  killedOnPurpose = false;
  /** Its unexpected exit was already reported by a test. */
  reported = false;

  constructor(
    readonly name: string,
    configFile: string,
    readonly logFile: string,
  ) {
    const fd = openSync(logFile, 'a');
    try {
      this.child = spawn(process.execPath, [BIN, 'run', '--config', configFile], {
        cwd: ROOT,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ULBRIDGE_LOG_LEVEL: 'info' },
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines = 15): string {
    return this.log()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .map((l) => (l.length > 600 ? `${l.slice(0, 600)}…` : l))
      .join('\n');
  }

  /** Waits (bounded) until the log shows both the ingest and the projection running. */
  async waitStarted(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = this.log();
      if (l.includes('ingest running') && l.includes('projection started')) return;
      if (!this.running) throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.exit)}):\n${this.tail()}`);
      if (Date.now() >= deadline)
        throw new Error(`${this.name} did not log "ingest running" and "projection started" within ${timeoutMs / 1000} s:\n${this.tail()}`);
      await sleep(250);
    }
  }

  /** GET /readyz of this process (its URL is in the "running" log line): status and body. */
  async readyz(): Promise<{ status: number; body: unknown }> {
    const url = /"http":"(http:[^"]+)"/.exec(this.log())?.[1];
    if (url === undefined) throw new Error(`${this.name} logged no HTTP URL:\n${this.tail()}`);
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: await res.json() };
  }

  async kill9(): Promise<void> {
    this.killedOnPurpose = true;
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built CLI (bin/ulbridge.js), bounded to `timeoutMs`. */
function ulbridge(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n(${err.message})` : stderr });
    });
  });
}

// ---- the rig --------------------------------------------------------------------------------

let src: Stack | undefined;
let tgt: Stack | undefined;
let kafkaProxy: TcpProxy | undefined;
let dbProxy: TcpProxy | undefined;
let session: ReconnectingPg | undefined;
let load: Load;
let legacy: TableSpec;
let target: TableSpec;
let configFile: string;
let cdcTopic: string;
let targetGeneration = 0;
const bridges: Bridge[] = [];
let bridgeSeq = 0;
/** The last check passed: the target equals the legacy table and a bridge runs (false while a fault test runs). */
let settled = true;
let preparedFor = '';
/** Snapshots at the last check: legacy fingerprints and target ids per binding. */
let before_: { fingerprints: Map<string, string>; ids: Map<string, string[]> };

function withDatabase(url: string, db: string, port?: number): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  if (port !== undefined) u.port = String(port);
  return u.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The bridge config for a target database and target name (a fresh target gets a fresh name, state schema and group). */
function writeConfig(database: string, name: string): void {
  configFile = join(work, `bridge-${name}.json`);
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        kafka: {
          brokers: [kafkaProxy!.address],
          clientId: 'ulbridge-faults',
          sessionTimeoutSeconds: KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS,
        },
        log: { topic: 'faults.registrations', partitions: 4, deadLetterTopic: 'faults.dead-letters' },
        sources: [{ name: 'legacy', release: '2.1', topic: cdcTopic, groupId: 'faults-ingest' }],
        // ulbridge reaches the target database through the proxy; the checks below go direct.
        targets: [
          {
            name,
            db: withDatabase(tgt!.postgres!.url, database, dbProxy!.port),
            table: 'location',
            release: '4.0',
            hashSize: 9,
            groupId: `faults-${name}`,
          },
        ],
        http: { port: 0 },
      },
      null,
      2,
    ),
  );
}

function startBridge(): Bridge {
  bridgeSeq++;
  const b = new Bridge(`bridge-${bridgeSeq}`, configFile, join(work, `bridge-${bridgeSeq}.log`));
  bridges.push(b);
  return b;
}

function bridgeTails(): string {
  return bridges
    .map(
      (b) =>
        `--- ${b.name} (${b.running ? 'running' : `exited ${JSON.stringify(b.exit)}${b.killedOnPurpose ? ', killed on purpose' : ''}`}), ${b.logFile} ---\n${b.tail()}`,
    )
    .join('\n');
}

function assertBridgesAlive(what: string): void {
  for (const b of bridges) {
    if (b.killedOnPurpose || b.reported) continue;
    if (!b.running) {
      b.reported = true; // reported once, by the test during which it exited
      assert.fail(
        `${what}: ${b.name} (ulbridge run) exited by itself ${JSON.stringify(b.exit)}; a fault must not stop the service.\n${bridgeTails()}`,
      );
    }
  }
}

async function snapshot(): Promise<typeof before_> {
  const [fingerprints, ids] = await Promise.all([legacyFingerprints(legacy), targetIdsByBinding(target)]);
  return { fingerprints, ids };
}

before(async () => {
  const log = (l: string): void => {
    process.stderr.write(`faults: ${l}\n`);
  };
  kafkaProxy = await TcpProxy.start();
  // The two stacks start in parallel; the target one is only PostgreSQL.
  [src, tgt] = await Promise.all([
    startStack({
      dir: join(work, 'src'),
      services: ['postgres', 'kafka', 'connect'],
      kafkaExtraListeners: [{ name: 'PROXIED', advertisedPort: kafkaProxy.port }],
      log: (l) => log(`src stack: ${l}`),
    }),
    // synchronous_commit=off: the immediate stop below loses acknowledged commits, like a failover
    // to an asynchronous replica.
    startStack({
      dir: join(work, 'tgt'),
      services: ['postgres'],
      extraArgs: { postgres: ['-c', 'synchronous_commit=off'] },
      log: (l) => log(`tgt stack: ${l}`),
    }),
  ]);
  kafkaProxy.setTarget({ port: src.kafka!.extraListeners!.PROXIED!.port });
  dbProxy = await TcpProxy.start({ target: { port: tgt.postgres!.port } });

  await adminQuery(src.postgres!.url, 'CREATE DATABASE faults_legacy');
  await adminQuery(tgt.postgres!.url, 'CREATE DATABASE faults_target');
  const legacyUrl = withDatabase(src.postgres!.url, 'faults_legacy');
  const targetUrl = withDatabase(tgt.postgres!.url, 'faults_target');
  await createLocationTable(legacyUrl, '2.1');
  await createLocationTable(targetUrl, '4.0');
  legacy = { url: legacyUrl, table: 'location', release: '2.1', timeZone: 'UTC' };
  target = { url: targetUrl, table: 'location', release: '4.0', timeZone: 'UTC' };

  session = new ReconnectingPg(legacyUrl);
  const writer = new LegacyTableWriter(session as unknown as pg.ClientBase, 'location', new Workload(9), 'UTC', AORS);
  await writer.seed(ROWS, AORS);
  load = new Load(writer);

  const connector = await registerConnector(src.connect!.url, {
    name: 'faults',
    kind: 'postgres',
    url: legacyUrl,
    table: 'public.location',
    kafkaBrokers: src.kafka!.brokers,
  });
  cdcTopic = connector.topic;
  writeConfig('faults_target', 'main');
  const b = startBridge();
  await b.waitStarted();
  await waitForIndependentEqual(legacy, target, { timeoutMs: CONVERGE_MS, what: 'the initial snapshot' }).catch((e: Error) => {
    throw new Error(`${e.message}\n${bridgeTails()}`);
  });
  before_ = await snapshot();
  log(
    `rig ready: ${before_.fingerprints.size} live bindings; src stack ${src.dir}, tgt stack ${tgt.dir}; kafka proxy ${kafkaProxy.address} -> ${src.kafka!.extraListeners!.PROXIED!.port}, db proxy ${dbProxy.address} -> ${tgt.postgres!.port}`,
  );
});

after(async () => {
  await load?.stop().catch(() => undefined);
  for (const b of bridges) await b.kill9().catch(() => undefined);
  await session?.end();
  await kafkaProxy?.close().catch(() => undefined);
  await dbProxy?.close().catch(() => undefined);
  const keep = !!process.env.ULBRIDGE_TEST_KEEP_STACK_DIR;
  await Promise.all([src, tgt].map(async (s) => s?.stop({ fast: !keep, keepDir: keep }).catch(() => undefined)));
  if (!keep) rmSync(work, { recursive: true, force: true });
  else process.stderr.write(`faults: kept ${work}\n`);
});

/**
 * The checks after a fault: load stopped, the surviving bridges running, the target equal to the
 * legacy table (independent comparison), unchanged bindings with the same ids, diff 0, status READY.
 */
async function settle(t: TestContext, what: string): Promise<void> {
  await load.stop();
  const t0 = Date.now();
  assertBridgesAlive(what);
  const c = await waitForIndependentEqual(legacy, target, { timeoutMs: CONVERGE_MS, what: `after ${what}` }).catch((e: Error) => {
    throw new Error(`${e.message}\n${bridgeTails()}`);
  });
  const convergedMs = Date.now() - t0;
  assert.equal(c.target.duplicates, 0, `${what}: no binding duplicated in the target`);
  assert.equal(c.target.rows, c.legacy.rows, `${what}: one target row per legacy row (${describeComparison(c)})`);

  const now = await snapshot();
  const { unchanged, moved } = idsMovedForUnchanged(before_.fingerprints, now.fingerprints, before_.ids, now.ids);
  assert.deepEqual(moved.slice(0, 5), [], `${what}: ${moved.length} of ${unchanged} unchanged bindings changed their contact id`);
  assert.ok(unchanged > ROWS / 3, `${what}: most bindings were left unchanged by the load (${unchanged})`);
  before_ = now;

  const diff = await ulbridge([
    'diff',
    '--source',
    legacy.url,
    '--source-release',
    '2.1',
    '--target',
    target.url,
    '--target-release',
    '4.0',
    '--hash-size',
    '9',
  ]);
  assert.equal(diff.code, 0, `${what}: ulbridge diff exit code\n${diff.stdout}\n${diff.stderr}`);

  // status reads committed offsets, which may trail the applied rows by a moment: poll, bounded.
  const deadline = Date.now() + 60_000;
  let status: CliResult;
  for (;;) {
    status = await ulbridge(['status', '--config', configFile]);
    if (status.code === 0 || Date.now() >= deadline) break;
    await sleep(1_000);
  }
  assert.equal(status.code, 0, `${what}: ulbridge status is not READY within 60 s\n${status.stdout}\n${status.stderr}`);
  assertBridgesAlive(what);
  settled = true;
  t.diagnostic(
    `${what}: ${load.changes} changes so far (${load.errors} failed while the registrar's database was away), ` +
      `${c.legacy.live} live bindings, equal ${(convergedMs / 1000).toFixed(1)} s after the load stopped, ${unchanged} unchanged bindings kept their ids`,
  );
}

/**
 * Each fault starts from a running bridge and a target equal to the legacy table. If the previous
 * fault test failed (it said why), this one starts over with a fresh bridge on a fresh target, so
 * every fault is judged on its own.
 */
async function ready(t: TestContext): Promise<void> {
  if (preparedFor === t.name) return;
  preparedFor = t.name;
  const running = bridges.some((b) => b.running && !b.killedOnPurpose);
  if (running && settled) {
    settled = false;
    return;
  }
  if (!settled) {
    // The previous fault left the target different from the legacy table (that test failed and
    // said how). This fault starts clean on a new target (new database, target name, state schema
    // and consumer group), which the projection builds from offset 0 of the registration log.
    for (const b of bridges) if (b.running) await b.kill9();
    targetGeneration++;
    const database = `faults_target_${targetGeneration}`;
    await adminQuery(tgt!.postgres!.url, `CREATE DATABASE ${database}`);
    target = { ...target, url: withDatabase(tgt!.postgres!.url, database) };
    await createLocationTable(target.url, '4.0');
    writeConfig(database, `main${targetGeneration}`);
    t.diagnostic(`the previous test left the target unequal: continuing on a new target, ${database}`);
  }
  settled = false;
  const b = startBridge();
  t.diagnostic(`started ${b.name}${running ? '' : ' (no ulbridge run process was left running by the previous test)'}`);
  await b.waitStarted();
  await waitForIndependentEqual(legacy, target, { timeoutMs: CONVERGE_MS, what: `${b.name} catching up before the fault` }).catch(
    (e: Error) => {
      throw new Error(`${e.message}\n${bridgeTails()}`);
    },
  );
  before_ = await snapshot();
}

/** Load for `ms`, in the background of whatever runs next. */
async function loadFor(t: TestContext, ms: number): Promise<void> {
  await ready(t);
  load.start();
  await sleep(ms);
}

test('Kafka connections cut twice under load (TCP proxy between ulbridge and Kafka)', { timeout: FAULT_TEST_TIMEOUT }, async (t) => {
  await loadFor(t, 3_000);
  const first = kafkaProxy!.cut();
  assert.ok(first > 0, 'ulbridge had connections to Kafka through the proxy');
  await sleep(3_000);
  const second = kafkaProxy!.cut();
  await sleep(4_000);
  t.diagnostic(`cut ${first} + ${second} connections`);
  await settle(t, 'Kafka TCP cut');
});

test('Kafka stalled for 10 s under load (TCP proxy stops forwarding, then resumes)', { timeout: FAULT_TEST_TIMEOUT }, async (t) => {
  await loadFor(t, 3_000);
  assert.ok(kafkaProxy!.connections > 0, 'ulbridge has connections to Kafka through the proxy');
  await kafkaProxy!.stall(10_000);
  await sleep(4_000);
  await settle(t, 'Kafka TCP stall');
});

test(
  'target database connections cut twice under load (TCP proxy between ulbridge and PostgreSQL)',
  { timeout: FAULT_TEST_TIMEOUT },
  async (t) => {
    await loadFor(t, 3_000);
    const first = dbProxy!.cut();
    assert.ok(first > 0, 'ulbridge had sessions on the target database through the proxy');
    await sleep(3_000);
    const second = dbProxy!.cut();
    await sleep(4_000);
    t.diagnostic(`cut ${first} + ${second} connections`);
    await settle(t, 'target database TCP cut');
  },
);

test(
  'target database stalled for 10 s under load (TCP proxy stops forwarding, then resumes)',
  { timeout: FAULT_TEST_TIMEOUT },
  async (t) => {
    await loadFor(t, 3_000);
    assert.ok(dbProxy!.connections > 0, 'ulbridge has sessions on the target database through the proxy');
    await dbProxy!.stall(10_000);
    await sleep(4_000);
    await settle(t, 'target database TCP stall');
  },
);

test(
  'target PostgreSQL immediate stop (SIGQUIT, as pg_ctl stop -m immediate), 5 s down, start again',
  { timeout: FAULT_TEST_TIMEOUT },
  async (t) => {
    await loadFor(t, 3_000);
    const r = await tgt!.restart('postgres', { signal: 'SIGQUIT', downMs: 5_000 });
    await sleep(4_000);
    t.diagnostic(`target postgres: stopped in ${r.stopMs} ms, ready again ${r.readyMs} ms after its start (pid ${r.oldPid} -> ${r.pid})`);
    await settle(t, 'target database immediate stop and start');
  },
);

test(
  'source PostgreSQL restart (fast shutdown, 3 s down) under load: Debezium and the registrar reconnect',
  { timeout: FAULT_TEST_TIMEOUT },
  async (t) => {
    await loadFor(t, 3_000);
    const errorsBefore = load.errors;
    const r = await src!.restart('postgres', { downMs: 3_000 });
    await sleep(6_000);
    t.diagnostic(
      `source postgres: stopped in ${r.stopMs} ms, ready again after ${r.readyMs} ms; ${load.errors - errorsBefore} registrar changes failed meanwhile (${load.lastError})`,
    );
    await settle(t, 'source database restart');
  },
);

test('Kafka Connect kill -9 and restart under load', { timeout: FAULT_TEST_TIMEOUT }, async (t) => {
  await loadFor(t, 3_000);
  const r = await src!.restart('connect', { kill: true });
  await sleep(5_000);
  t.diagnostic(`connect: killed, ready again after ${r.readyMs} ms (pid ${r.oldPid} -> ${r.pid})`);
  await settle(t, 'Kafka Connect kill -9');
});

test('Kafka broker kill -9 and restart on the same port and data dir under load', { timeout: FAULT_TEST_TIMEOUT }, async (t) => {
  await loadFor(t, 3_000);
  const r = await src!.restart('kafka', { kill: true, downMs: 2_000 });
  await sleep(5_000);
  t.diagnostic(`kafka: killed, ready again after ${r.readyMs} ms (pid ${r.oldPid} -> ${r.pid})`);
  await settle(t, 'Kafka broker kill -9');
});

test(
  'ulbridge run frozen (SIGSTOP) for 40 s under load, past the session timeout of its consumers, then resumed',
  { timeout: FAULT_TEST_TIMEOUT },
  async (t) => {
    await loadFor(t, 3_000);
    const b = bridges.find((x) => x.running && !x.killedOnPurpose)!;
    assert.ok(b, 'a bridge is running');
    // A VM pause or a long stall: the broker ends both groups' sessions (30 s) meanwhile, and the
    // commits and heartbeats in flight when the process wakes up are refused as from unknown members.
    b.child.kill('SIGSTOP');
    try {
      // The registrar goes on for 10 s of it (a backlog to apply on waking), then rests.
      await sleep(10_000);
      await load.stop();
      await sleep(30_000);
    } finally {
      b.child.kill('SIGCONT');
    }
    await sleep(5_000);
    await settle(t, 'ulbridge run frozen for 40 s');
    assert.deepEqual(await b.readyz(), { status: 200, body: { ready: true, reasons: [] } }, `${b.name} is ready\n${b.tail()}`);
  },
);

test('two ulbridge run processes in one consumer group, one of them kill -9 under load', { timeout: FAULT_TEST_TIMEOUT }, async (t) => {
  await ready(t);
  const first = bridges.find((b) => b.running && !b.killedOnPurpose)!;
  assert.ok(first, 'a bridge is running');
  const second = startBridge();
  await second.waitStarted();
  await loadFor(t, 5_000);
  await first.kill9();
  await sleep(5_000);
  t.diagnostic(`killed ${first.name}; ${second.name} carries on alone`);
  await settle(t, 'kill -9 of one of two ulbridge run processes');
});
