/**
 * The rig of the operating-procedure tests (test/e2e/procedures*.test.ts): a Debezium-captured
 * 2.1 legacy table written by a registrar emulation (src/demo/legacyTable.ts) that can churn in
 * the background at a few hundred changes/s, PostgreSQL target databases, `ulbridge run` as a
 * child process, and the operator's proofs (`ulbridge status`, `ulbridge diff`) through the CLI,
 * plus the independent comparison (test/support/independentCompare.ts). Every wait is bounded
 * and fails with what it last saw.
 */
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLocationTable } from '../../src/demo/tables.js';
import { parseConfig } from '../../src/ops/config.js';
import { cli } from '../support/cli.js';
import { freshPostgresDb, kafkaBrokers, withPg, type FreshDb } from '../support/services.js';
import { waitForIndependentEqual, type IndependentComparison, type TableSpec } from '../support/independentCompare.js';
import { legacyScenario, spawnBridge, type Scenario } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The README's "Rebuild a target" SQL, taken from README.md itself: the code span of the
 * "**Rebuild a target**" bullet that deletes ulbridge's rows and drops its state schema. A change
 * of the documented procedure changes what the tests run.
 */
export function readmeRebuildSql(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const bullet = readme.split(/\n- /).find((b) => b.startsWith('**Rebuild a target**'));
  assert.ok(bullet, 'README.md has a "- **Rebuild a target**" bullet in its operations runbook');
  const spans = [...bullet.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const sql = spans.find((s) => /^DELETE FROM /.test(s) && /DROP SCHEMA /.test(s));
  assert.ok(sql, `the "Rebuild a target" bullet has a code span with the DELETE and the DROP SCHEMA: ${JSON.stringify(spans)}`);
  return sql;
}

/** A PostgreSQL client program (pg_dump, pg_restore) of the newest installed server, else PATH's. */
export function pgProgram(name: string): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  }
  return name;
}

export const run = promisify(execFile);

/**
 * A registrar churning in the background at about `perSecond` changes/s (one change at a time,
 * as the registrar writes them). The amount of churn is set by counts (`waitFor`), not by time,
 * so a slow machine does not change the workload.
 */
export class Churner {
  count = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private error: unknown = null;

  constructor(
    private readonly s: Scenario,
    private readonly perSecond = 300,
  ) {}

  start(): void {
    assert.equal(this.running, false, 'churner already running');
    this.running = true;
    this.loop = (async () => {
      const tickMs = 50;
      const perTick = Math.max(1, Math.round((this.perSecond * tickMs) / 1000));
      while (this.running) {
        const t0 = Date.now();
        for (let i = 0; i < perTick && this.running; i++) {
          await this.s.writer.churnOnce();
          this.count++;
        }
        const rest = tickMs - (Date.now() - t0);
        if (rest > 0) await sleep(rest);
      }
    })().catch((e: unknown) => {
      this.error = e;
      this.running = false;
    });
  }

  /** Waits until `n` more changes were made from now (bounded). */
  async waitFor(n: number, timeoutMs = 120_000): Promise<void> {
    const goal = this.count + n;
    const deadline = Date.now() + timeoutMs;
    while (this.count < goal) {
      if (this.error) throw new Error(`registrar emulation failed: ${String(this.error)}`);
      assert.ok(this.running, 'the churner is running');
      assert.ok(Date.now() < deadline, `registrar emulation made ${this.count} of ${goal} changes in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    if (this.error) throw new Error(`registrar emulation failed: ${String(this.error)}`);
    return this.count;
  }
}

export interface RigTarget {
  name: string;
  db: FreshDb;
}

export class ProcedureRig {
  s!: Scenario;
  private bridge: ChildProcess | null = null;
  private bridgeLog = '';
  private constructor(readonly name: string) {}

  static async create(name: string, opts: { rows: number; aors: number; seed: number }): Promise<ProcedureRig> {
    const rig = new ProcedureRig(name);
    rig.s = await legacyScenario(name, { ...opts, targets: [] });
    return rig;
  }

  get legacySpec(): TableSpec {
    return { url: this.s.legacy.url, release: '2.1', timeZone: 'UTC' };
  }

  targetSpec(t: RigTarget): TableSpec {
    return { url: t.db.url, release: '4.0', timeZone: 'UTC' };
  }

  async newTarget(name: string): Promise<RigTarget> {
    const db = await freshPostgresDb(`${this.name}_${name}`);
    await createLocationTable(db.url, '4.0');
    return { name, db };
  }

  /**
   * bridge.json: the legacy source and these 4.0 targets (hash_size 9). `groups` names the
   * projections' consumer groups: the same config keeps the same groups across restarts, as an
   * operator's does.
   */
  writeConfig(targets: RigTarget[], groups: string, extra: { http?: { port: number } } = {}): string {
    const tag = `${this.name}_${process.pid}`;
    const raw = {
      kafka: { brokers: kafkaBrokers() },
      log: { topic: this.s.logTopic, partitions: 4, deadLetterTopic: this.s.deadLetterTopic },
      sources: [{ name: 'legacy', release: '2.1', topic: this.s.cdcTopic, timeZone: 'UTC', groupId: `${tag}-ingest` }],
      targets: targets.map((t) => ({
        name: t.name,
        db: t.db.url,
        table: 'location',
        release: '4.0',
        hashSize: 9,
        timeZone: 'UTC',
        groupId: `${tag}-${groups}-${t.name}`,
      })),
      http: extra.http ?? { port: 0 },
    };
    parseConfig(raw, {});
    const file = join(mkdtempSync(join(tmpdir(), 'ulbridge-proc-')), 'bridge.json');
    writeFileSync(file, JSON.stringify(raw, null, 2));
    return file;
  }

  /** `ulbridge run --config FILE` as a child process. */
  startBridge(configFile: string): void {
    assert.ok(!this.bridge || this.bridge.exitCode !== null || this.bridge.signalCode !== null, 'a bridge is already running');
    this.bridge = spawnBridge(parseConfig(JSON.parse(readFileSync(configFile, 'utf8')), {}));
    this.bridgeLog += `\n--- start ${new Date().toISOString()}\n`;
    this.bridge.stderr?.on('data', (d: Buffer) => (this.bridgeLog = (this.bridgeLog + d.toString()).slice(-20_000)));
  }

  /** SIGTERM: the bridge drains and exits 0 within 60 s. */
  async stopBridge(): Promise<void> {
    const c = this.bridge;
    if (!c || c.exitCode !== null || c.signalCode !== null) {
      assert.fail(`the bridge is not running (exit ${c?.exitCode}, signal ${c?.signalCode})${this.logTail()}`);
    }
    const gone = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    const code = await Promise.race([gone, sleep(60_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      c.kill('SIGKILL');
      assert.fail(`the bridge did not exit within 60 s of SIGTERM${this.logTail()}`);
    }
    assert.equal(code, 0, `SIGTERM drains and exits 0${this.logTail()}`);
  }

  /**
   * SIGTERM; if the bridge has not exited within `ms`, kill -9. Returns what happened
   * ("exit 0", "exit N", "signal S" or "no exit within N ms: killed") for a later assertion.
   */
  async stopBridgeOrKill(ms: number): Promise<string> {
    const c = this.bridge;
    if (!c || c.exitCode !== null || c.signalCode !== null) assert.fail(`the bridge is not running${this.logTail()}`);
    const gone = new Promise<string>((r) => c.once('exit', (code, signal) => r(code !== null ? `exit ${code}` : `signal ${signal}`)));
    c.kill('SIGTERM');
    const r = await Promise.race([gone, sleep(ms).then(() => null)]);
    if (r !== null) return r;
    this.bridgeLog += `\n--- no exit within ${ms} ms of SIGTERM: kill -9\n`;
    c.kill('SIGKILL');
    await gone;
    return `no exit within ${ms} ms of SIGTERM: killed`;
  }

  /** kill -9 of a bridge a failed test left running; waits for its exit. */
  async killIfRunning(): Promise<void> {
    const c = this.bridge;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  logTail(): string {
    return `\nbridge log (warnings and errors):\n${this.bridgeLog.slice(-6000)}`;
  }

  /** Polls `ulbridge status --config` until it exits 0 (READY), bounded. */
  async statusReady(configFile: string, timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = { code: null as number | null, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      last = await cli(['status', '--config', configFile]);
      if (last.code === 0) return last.stdout;
      await sleep(1000);
    }
    throw new Error(
      `ulbridge status did not say READY (exit 0) within ${timeoutMs} ms; last exit ${last.code}:\n${last.stdout}${last.stderr}${this.logTail()}`,
    );
  }

  /** `ulbridge status --config` once: its exit code and output. */
  async status(configFile: string): Promise<{ code: number | null; out: string }> {
    const r = await cli(['status', '--config', configFile]);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  /** `ulbridge diff` legacy vs target once. */
  async diff(t: RigTarget): Promise<{ code: number | null; out: string }> {
    const r = await cli([
      'diff',
      '--source',
      this.s.legacy.url,
      '--source-release',
      '2.1',
      '--target',
      t.db.url,
      '--target-release',
      '4.0',
      '--hash-size',
      '9',
    ]);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  /** The target equals the legacy table by the independent comparison (polled, bounded). */
  async independentEqual(t: RigTarget, timeoutMs = 60_000): Promise<IndependentComparison> {
    try {
      return await waitForIndependentEqual(this.legacySpec, this.targetSpec(t), { timeoutMs, what: `target ${t.name}` });
    } catch (e) {
      throw new Error(`${(e as Error).message}${this.logTail()}`, { cause: e });
    }
  }

  /**
   * The end of every procedure: READY, the target equal to the legacy table by the independent
   * comparison, `ulbridge diff` exit 0 for each target, and `ulbridge status` exit 0 again.
   */
  async assertConverged(configFile: string, targets: RigTarget[]): Promise<void> {
    await this.statusReady(configFile);
    for (const t of targets) {
      const c = await this.independentEqual(t);
      assert.equal(c.target.duplicates, 0);
      assert.equal(c.target.live, c.legacy.live);
      assert.ok(c.legacy.live >= 1000, `the legacy table holds the workload (${c.legacy.live} live bindings)`);
      const d = await this.diff(t);
      assert.equal(d.code, 0, `ulbridge diff exits 0 for target ${t.name}:\n${d.out}`);
      assert.match(d.out, new RegExp(`result: equal: ${c.legacy.live} live bindings on each side`));
    }
    const st = await this.status(configFile);
    assert.equal(st.code, 0, `ulbridge status exits 0 (READY):\n${st.out}`);
  }

  /** Sum of the target's stored next offsets (0 without a state schema). */
  async storedOffsetSum(t: RigTarget, schema = `ulbridge_${t.name}`): Promise<number> {
    return withPg(t.db.url, async (c) => {
      const { rows } = await c.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${schema}.offsets`]);
      if (!rows[0].ok) return 0;
      const r = await c.query(`SELECT coalesce(sum(next_offset), 0)::bigint::text AS n FROM ${schema}.offsets`);
      return Number(r.rows[0].n);
    });
  }

  /** Waits until the target's stored offsets advanced to at least `goal` (bounded). */
  async waitStoredOffsets(t: RigTarget, goal: number, timeoutMs = 120_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let now: number;
    while ((now = await this.storedOffsetSum(t)) < goal) {
      assert.ok(
        Date.now() < deadline,
        `target ${t.name}: stored offsets reached ${now}, not ${goal}, within ${timeoutMs} ms${this.logTail()}`,
      );
      await sleep(200);
    }
    return now;
  }

  async cleanup(targets: RigTarget[]): Promise<void> {
    await this.killIfRunning();
    await this.s?.cleanup();
    for (const t of targets) await t.db.drop().catch(() => undefined);
  }
}
