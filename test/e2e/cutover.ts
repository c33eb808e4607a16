/**
 * The cut-over rig of the reverse-sync end-to-end tests: a Debezium-captured legacy table and
 * target table, each of any release on PostgreSQL or MariaDB (default: 2.1 legacy, 4.0 target on
 * PostgreSQL), a registrar on each that assigns ids the way its release does
 * (test/e2e/registrars.ts), `ulbridge run` as a child process with a reverse sync, and the
 * runbook's proofs (`ulbridge status`, `diff`, `verify`) run through the real CLI. Everything runs
 * against the suite's stack; nothing is mocked.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { changeTopic, registerConnector, deleteConnector } from '../../src/stack/index.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { Workload } from '../../src/demo/workload.js';
import { parseConfig } from '../../src/ops/config.js';
import { unixToLocalDatetime } from '../../src/opensips/localTime.js';
import { releaseProfile, type ReleaseName } from '../../src/opensips/releases.js';
import { cli } from '../support/cli.js';
import {
  connectUrl,
  freshMariaDb,
  freshPostgresDb,
  kafkaBrokers,
  KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS,
  withMysql,
  type FreshDb,
} from '../support/services.js';
import { spawnBridge } from './harness.js';
import { AutoIdRegistrar, ContactIdRegistrar, mariaSql, pgSql, type Registrar, type SqlSession } from './registrars.js';

const TZ = 'UTC';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type LegacyKind = 'postgres' | 'mariadb';

/** One table of the rig: its database kind, the release of its registrar and that registrar's hash_size. */
export interface RigTable {
  kind: LegacyKind;
  release: ReleaseName;
  hashSize: number;
}

export interface RigOptions {
  /** The legacy table's database (2.1 unless legacyRelease says otherwise). */
  legacy: LegacyKind;
  legacyRelease?: ReleaseName;
  /** hash_size of the legacy registrar (2.2+; default the target's). */
  legacyHashSize?: number;
  /** The target table (default PostgreSQL, 4.0). */
  target?: { kind: LegacyKind; release: ReleaseName };
  rows: number;
  aors: number;
  seed: number;
  /** hash_size of the target registrar. */
  hashSize: number;
  /**
   * The target's connector is registered by captureTarget(), once the bridge alone has filled the
   * target (the runbook's order: §2, then §2c), so its first events are a snapshot of every row.
   */
  targetCapturedLater?: boolean;
}

async function openSession(db: FreshDb, kind: LegacyKind): Promise<SqlSession> {
  if (kind === 'mariadb') return mariaSql(db.url);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  return pgSql(client);
}

function registrarFor(t: RigTable, db: SqlSession, seed: number, nextAor: () => number): Registrar {
  return t.release === '2.1'
    ? new AutoIdRegistrar(db, new Workload(seed), TZ, nextAor)
    : new ContactIdRegistrar(db, releaseProfile(t.release), t.hashSize, new Workload(seed), TZ, nextAor);
}

export class CutoverRig {
  legacy!: FreshDb;
  /** The legacy registrar's session (also for the tests' own queries, `?` placeholders). */
  legacySql!: SqlSession;
  /** URL reverse sync writes the legacy table with (MariaDB: a user of its own, so tests can cut its sessions). */
  reverseLegacyUrl = '';
  cdcTopic = '';
  target!: FreshDb;
  /** The new registrar's session (also for the tests' own queries, `?` placeholders). */
  targetSql!: SqlSession;
  targetTopic = '';
  configFile = '';
  legacyRegistrar!: Registrar;
  newRegistrar!: Registrar;
  private targetConnector = '';
  private legacyConnector = '';
  private config: Record<string, unknown> = {};
  private bridge: ChildProcess | null = null;
  private bridgeLog = '';
  private aorNumber = 100_000;
  /** http.port of the bridge (0: any; set a free port to read /metrics). */
  httpPort = 0;

  readonly legacyTable: RigTable;
  readonly targetTable: RigTable;

  private constructor(
    readonly name: string,
    opts: RigOptions,
  ) {
    this.legacyTable = { kind: opts.legacy, release: opts.legacyRelease ?? '2.1', hashSize: opts.legacyHashSize ?? opts.hashSize };
    this.targetTable = { kind: opts.target?.kind ?? 'postgres', release: opts.target?.release ?? '4.0', hashSize: opts.hashSize };
  }

  get hashSize(): number {
    return this.targetTable.hashSize;
  }

  get legacyKind(): LegacyKind {
    return this.legacyTable.kind;
  }

  /** The target's state schema (MariaDB: a database of its own on the shared server). */
  get stateSchema(): string {
    return this.targetTable.kind === 'postgres' ? 'ulbridge_main' : `${this.tag}_state`;
  }

  /**
   * Seeds the legacy table (PostgreSQL or MariaDB, its release) the way its registrar would,
   * creates the target, registers a Debezium connector on each, and gives every AOR to the legacy
   * registrar.
   */
  static async create(name: string, opts: RigOptions): Promise<CutoverRig> {
    const rig = new CutoverRig(name, opts);
    rig.legacy = opts.legacy === 'postgres' ? await freshPostgresDb(`${name}_legacy`) : await freshMariaDb(`${name}_legacy`);
    await createLocationTable(rig.legacy.url, rig.legacyTable.release);
    rig.legacySql = await openSession(rig.legacy, opts.legacy);
    if (opts.legacy === 'postgres') {
      rig.reverseLegacyUrl = rig.legacy.url;
    } else {
      const user = `rev_${process.pid}`;
      await withMysql(rig.legacy.url, async (c) => {
        for (const host of ['%', 'localhost', '127.0.0.1']) {
          await c.query(`CREATE USER IF NOT EXISTS '${user}'@'${host}' IDENTIFIED BY 'rev'`);
          await c.query(`GRANT ALL ON \`${rig.legacy.name}\`.* TO '${user}'@'${host}'`);
        }
      });
      const u = new URL(rig.legacy.url);
      u.username = user;
      u.password = 'rev';
      rig.reverseLegacyUrl = u.toString();
    }
    const nextAor = (): number => rig.aorNumber++;
    rig.legacyRegistrar = registrarFor(rig.legacyTable, rig.legacySql, opts.seed + 1, nextAor);
    await rig.legacyRegistrar.seed(opts.rows, opts.aors);
    const rows = await rig.legacySql.query('SELECT DISTINCT lower(username) AS u FROM location');
    await rig.legacyRegistrar.take(rows.map((r) => r.u as string));

    const tk = rig.targetTable.kind;
    rig.target = tk === 'postgres' ? await freshPostgresDb(`${name}_target`) : await freshMariaDb(`${name}_target`);
    await createLocationTable(rig.target.url, rig.targetTable.release);
    rig.targetSql = await openSession(rig.target, tk);
    rig.newRegistrar = registrarFor(rig.targetTable, rig.targetSql, opts.seed + 2, nextAor);

    const legacyConnector = await registerConnector(connectUrl(), rig.legacySpec());
    rig.legacyConnector = legacyConnector.name;
    rig.cdcTopic = legacyConnector.topic;
    if (opts.targetCapturedLater) rig.targetTopic = changeTopic(rig.targetSpec());
    else await rig.captureTarget();
    return rig;
  }

  /** Registers the Debezium connector of the target table (it snapshots the rows already there). */
  async captureTarget(): Promise<void> {
    const targetConnector = await registerConnector(connectUrl(), this.targetSpec());
    this.targetConnector = targetConnector.name;
    this.targetTopic = targetConnector.topic;
  }

  private get tag(): string {
    return `${this.name}_${process.pid}`;
  }

  private legacySpec(): Parameters<typeof registerConnector>[1] {
    return this.legacyKind === 'postgres'
      ? { name: `${this.tag}_legacy`, kind: 'postgres', url: this.legacy.url, table: 'public.location', kafkaBrokers: kafkaBrokers() }
      : { name: `${this.tag}_legacy`, kind: 'mariadb', url: this.legacy.url, table: 'location', kafkaBrokers: kafkaBrokers() };
  }

  private targetSpec(): Parameters<typeof registerConnector>[1] {
    return this.targetTable.kind === 'postgres'
      ? { name: `${this.tag}_target`, kind: 'postgres', url: this.target.url, table: 'public.location', kafkaBrokers: kafkaBrokers() }
      : { name: `${this.tag}_target`, kind: 'mariadb', url: this.target.url, table: 'location', kafkaBrokers: kafkaBrokers() };
  }

  /** Cuts every session reverse sync holds on the legacy database; returns how many it cut. */
  async cutReverseLegacySessions(): Promise<number> {
    if (this.legacyKind === 'postgres') {
      const rows = await this.legacySql.query(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ulbridge'",
      );
      return rows[0]!.n as number;
    }
    const user = new URL(this.reverseLegacyUrl).username;
    const ids = await this.legacySql.query('SELECT id FROM information_schema.processlist WHERE user = ?', [user]);
    for (const r of ids) await this.legacySql.query(`KILL ${Number(r.id)}`).catch(() => undefined);
    return ids.length;
  }

  /** Rows not yet expired at `now` (unix seconds) in the legacy and the target table. */
  async liveRowCounts(now: number): Promise<{ legacy: number; target: number }> {
    const live = async (db: SqlSession, t: RigTable): Promise<number> => {
      const unix = releaseProfile(t.release).expires === 'unix';
      const rows = await db.query(`SELECT count(*) AS n FROM location WHERE ${unix ? 'expires = 0 OR ' : ''}expires > ?`, [
        unix ? now : unixToLocalDatetime(now, TZ),
      ]);
      return Number(rows[0]!.n);
    };
    return { legacy: await live(this.legacySql, this.legacyTable), target: await live(this.targetSql, this.targetTable) };
  }

  /** Which of these user names have a row in the target table. */
  async targetUsernames(names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const rows = await this.targetSql.query(
      `SELECT DISTINCT username FROM location WHERE username IN (${names.map(() => '?').join(', ')})`,
      names,
    );
    return rows.map((r) => r.username as string);
  }

  async cleanup(): Promise<void> {
    if (this.bridge && this.bridge.exitCode === null) this.bridge.kill('SIGKILL');
    if (this.targetConnector)
      await deleteConnector(connectUrl(), this.targetConnector, { cleanup: this.targetSpec() }).catch(() => undefined);
    if (this.legacyConnector)
      await deleteConnector(connectUrl(), this.legacyConnector, { cleanup: this.legacySpec() }).catch(() => undefined);
    await this.targetSql?.close().catch(() => undefined);
    await this.legacySql?.close().catch(() => undefined);
  }

  /** bridge.json: the legacy source, the target `main` (plus extra targets), the reverse sync (unless `reverse` is false). */
  writeConfig(extraTargets: Array<{ name: string; table: string; hashSize: number }> = [], { reverse = true } = {}): void {
    this.config = {
      kafka: { brokers: kafkaBrokers(), sessionTimeoutSeconds: KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS },
      log: { topic: `${this.tag}.registrations`, partitions: 4, deadLetterTopic: `${this.tag}.dead-letters` },
      sources: [{ name: 'legacy', release: this.legacyTable.release, topic: this.cdcTopic, timeZone: TZ, groupId: `${this.tag}-ingest` }],
      targets: [
        {
          name: 'main',
          db: this.target.url,
          table: 'location',
          release: this.targetTable.release,
          hashSize: this.hashSize,
          timeZone: TZ,
          groupId: `${this.tag}-main`,
          ...(this.targetTable.kind === 'postgres' ? {} : { stateSchema: this.stateSchema }),
        },
        ...extraTargets.map((t) => ({
          name: t.name,
          db: this.target.url,
          table: t.table,
          release: this.targetTable.release,
          hashSize: t.hashSize,
          timeZone: TZ,
          groupId: `${this.tag}-${t.name}`,
          ...(this.targetTable.kind === 'postgres' ? {} : { stateSchema: `${this.tag}_${t.name}` }),
        })),
      ],
      reverse: reverse
        ? [
            {
              name: 'rollback',
              target: 'main',
              topic: this.targetTopic,
              source: 'legacy',
              legacy: {
                db: this.reverseLegacyUrl,
                table: 'location',
                // A 2.2+ legacy table: ids its registrar accepts at preload.
                ...(this.legacyTable.release === '2.1'
                  ? {}
                  : { release: this.legacyTable.release, hashSize: this.legacyTable.hashSize, timeZone: TZ }),
              },
              groupId: `${this.tag}-reverse`,
            },
          ]
        : [],
      http: { port: this.httpPort },
    };
    parseConfig(this.config, {}); // fails here, not in the child, if the config is wrong
    this.configFile ||= join(mkdtempSync(join(tmpdir(), 'ulbridge-cutover-')), 'bridge.json');
    writeFileSync(this.configFile, JSON.stringify(this.config, null, 2));
  }

  /** `ulbridge run --config bridge.json` as a child process. */
  startBridge(): void {
    this.bridge = spawnBridge(parseConfig(this.config, {}));
    this.bridge.stderr?.on('data', (d: Buffer) => (this.bridgeLog = (this.bridgeLog + d.toString()).slice(-20_000)));
  }

  /** SIGTERM: drains and must exit 0. */
  async stopBridge(): Promise<void> {
    const c = this.bridge;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    assert.equal(await gone, 0, 'SIGTERM drains and exits 0');
  }

  /** kill -9: no drain, nothing committed past the last transaction. */
  async killBridge(): Promise<void> {
    const c = this.bridge;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  private logTail(): string {
    return `\nbridge log:\n${this.bridgeLog.slice(-4000)}`;
  }

  /** Runbook: "`ulbridge status --config bridge.json` exits 0". Polls until it does; returns its output. */
  async statusReady(timeoutMs = 240_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = { code: null as number | null, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      last = await cli(['status', '--config', this.configFile]);
      if (last.code === 0) return last.stdout;
      await sleep(1000);
    }
    throw new Error(`status did not become READY in ${timeoutMs} ms:\n${last.stdout}${last.stderr}${this.logTail()}`);
  }

  /**
   * Runbook: "`ulbridge diff ...` exits 0" between the legacy table and a target table. Debezium's
   * own lag (table -> change topic) is not in `status`, so, as the runbook says, diff is re-run
   * for up to a minute; a difference that stays fails with diff's own report.
   */
  async diffEqual(targetTable = 'location', hashSize = this.hashSize): Promise<string> {
    const args = [
      'diff',
      '--source',
      this.legacy.url,
      '--source-release',
      this.legacyTable.release,
      '--target',
      this.target.url,
      '--target-table',
      targetTable,
      '--target-release',
      this.targetTable.release,
      '--hash-size',
      String(hashSize),
    ];
    const deadline = Date.now() + 60_000;
    let out = await cli(args);
    while (out.code === 1 && Date.now() < deadline) {
      await sleep(1000);
      out = await cli(args);
    }
    assert.equal(out.code, 0, `diff must report no difference:\n${out.stdout}${out.stderr}${this.logTail()}`);
    return out.stdout;
  }

  /** Runbook: "`ulbridge verify --db TARGET --release R --hash-size N` exits 0". */
  async verifyClean(table = 'location', hashSize = this.hashSize): Promise<string> {
    const out = await cli([
      'verify',
      '--db',
      this.target.url,
      '--table',
      table,
      '--release',
      this.targetTable.release,
      '--hash-size',
      String(hashSize),
    ]);
    assert.equal(out.code, 0, `verify must be clean:\n${out.stdout}${out.stderr}`);
    return out.stdout;
  }

  /** Runbook §3: the legacy table (2.2+) verifies clean for its own registrar, which a rollback restarts. */
  async verifyLegacyClean(): Promise<string> {
    const t = this.legacyTable;
    const out = await cli(['verify', '--db', this.legacy.url, '--release', t.release, '--hash-size', String(t.hashSize)]);
    assert.equal(out.code, 0, `verify of the legacy table must be clean:\n${out.stdout}${out.stderr}`);
    return out.stdout;
  }

  /**
   * No ping-pong: with both registrars idle, the echoes of the last changes die out (each crosses
   * once and is dropped by the conflict rule or the own-transaction check), so both change topics
   * stop growing: their ends stay the same for 5 s, within 90 s.
   */
  async assertQuiet(): Promise<void> {
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const ends = async (): Promise<string> =>
        JSON.stringify(await Promise.all([this.cdcTopic, this.targetTopic].map((t) => admin.fetchTopicOffsets(t))));
      const deadline = Date.now() + 90_000;
      let last = await ends();
      for (;;) {
        await sleep(5000);
        const now = await ends();
        if (now === last) return;
        assert.ok(Date.now() < deadline, `change topics still growing after 90 s with both registrars idle (a loop): ${last} -> ${now}`);
        last = now;
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Both registrars serve their AORs: changes interleaved, as live traffic would be. */
  async traffic(changes: number): Promise<void> {
    for (let i = 0; i < changes; i++) {
      if (i % 2 === 0 && this.newRegistrar.aors.length > 0) await this.newRegistrar.churnOnce();
      else await this.legacyRegistrar.churnOnce();
    }
  }

  /** Moves AORs from one registrar to the other, as an edge proxy switching them would. */
  async move(aors: string[], to: 'target' | 'legacy'): Promise<void> {
    const [from, into] = to === 'target' ? [this.legacyRegistrar, this.newRegistrar] : [this.newRegistrar, this.legacyRegistrar];
    from.release(aors);
    await into.take(aors);
  }

  /**
   * Runbook §3: every AOR goes back to the legacy registrar, and every AOR with a contact at the
   * new registrar (those it created included) has its rows in the legacy table when the legacy
   * registrar takes it back: nothing is missing.
   */
  async rollbackAll(): Promise<void> {
    const back = this.newRegistrar.aors;
    const withContacts = await this.targetUsernames(back);
    await this.move(back, 'legacy');
    assert.equal(this.newRegistrar.aors.length, 0);
    assert.ok(
      this.newRegistrar.created.some((a) => withContacts.includes(a)),
      'some AORs created at the new registrar are still registered',
    );
    assert.deepEqual(
      withContacts.filter((a) => !this.legacyRegistrar.aors.includes(a)),
      [],
    );
  }

  /** The reverse sync's committed Kafka offsets on the target table's topic, as one comparable string. */
  async reverseCommitted(): Promise<string> {
    const admin = new Kafka({ brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: `${this.tag}-reverse`, topics: [this.targetTopic] });
      return (t?.partitions ?? []).map((p) => `${p.partition}:${p.offset}`).join(',');
    } finally {
      await admin.disconnect();
    }
  }

  /** Every row of the legacy table, every column, in key order. */
  async legacyRows(): Promise<Array<Record<string, unknown>>> {
    return this.legacySql.query(`SELECT * FROM location ORDER BY ${releaseProfile(this.legacyTable.release).keyColumn}`);
  }

  /** The running bridge's /metrics (needs `httpPort` set before writeConfig). */
  async metrics(): Promise<string> {
    assert.ok(this.httpPort > 0, 'set httpPort before writeConfig to read /metrics');
    return (await fetch(`http://127.0.0.1:${this.httpPort}/metrics`)).text();
  }

  /**
   * Live target rows that no forward binding holds: registrar rows whose legacy copy was not
   * adopted. Expired rows are left out: reverse sync gives a 2.2+ legacy table no row for a binding
   * that expired before it was copied (its registrar would drop it at preload), and the emulated
   * registrar's expiry timer deletes such target rows only at its next change.
   */
  async unlinkedTargetRows(now = Math.floor(Date.now() / 1000)): Promise<number> {
    const unix = releaseProfile(this.targetTable.release).expires === 'unix';
    const rows = await this.targetSql.query(
      `SELECT count(*) AS n FROM location t WHERE (${unix ? 't.expires = 0 OR ' : ''}t.expires > ?) AND NOT EXISTS (SELECT 1 FROM ${this.stateSchema}.bindings b WHERE b.contact_id = t.contact_id)`,
      [unix ? now : unixToLocalDatetime(now, TZ)],
    );
    return Number(rows[0]!.n);
  }
}
