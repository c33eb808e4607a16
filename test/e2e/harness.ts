/**
 * Shared set-up of the end-to-end tests: a legacy 2.1 table captured by a real Debezium
 * connector, target tables, bridge configs, and convergence checks. Everything runs against the
 * suite's stack (test/run.ts); nothing is mocked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { registerConnector, deleteConnector } from '../../src/stack/index.js';
import { openDb } from '../../src/db/open.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { LegacyTableWriter } from '../../src/demo/legacyTable.js';
import { Workload } from '../../src/demo/workload.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { diffBindingSets, readBindingSet, type BindingDiff } from '../../src/verify/bindingSet.js';
import { connectUrl, freshPostgresDb, kafkaBrokers, KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS, type FreshDb } from '../support/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Scenario {
  name: string;
  legacy: FreshDb;
  legacyClient: pg.Client;
  writer: LegacyTableWriter;
  cdcTopic: string;
  logTopic: string;
  deadLetterTopic: string;
  targets: FreshDb[];
  cleanup(): Promise<void>;
}

/** A seeded 2.1 table with a running Debezium connector, and empty target databases. */
export async function legacyScenario(
  name: string,
  opts: { rows: number; aors: number; seed: number; targets: Array<{ release: string; table?: string }>; churnWhileRegistering?: number },
): Promise<Scenario> {
  const legacy = await freshPostgresDb(`${name}_legacy`);
  await createLocationTable(legacy.url, '2.1');
  const legacyClient = new pg.Client({ connectionString: legacy.url });
  await legacyClient.connect();
  const writer = new LegacyTableWriter(legacyClient, 'location', new Workload(opts.seed), 'UTC', opts.aors);
  await writer.seed(opts.rows, opts.aors);
  const targets: FreshDb[] = [];
  for (const t of opts.targets) {
    const db = await freshPostgresDb(`${name}_target`);
    await createLocationTable(db.url, t.release, t.table ?? 'location');
    targets.push(db);
  }
  const spec = {
    name: `${name}_${process.pid}`,
    kind: 'postgres' as const,
    url: legacy.url,
    table: 'public.location',
    kafkaBrokers: kafkaBrokers(),
  };
  // Optionally keep the registrar writing while Debezium creates its slot and snapshots.
  const [connector] = await Promise.all([
    registerConnector(connectUrl(), spec),
    (async () => {
      for (let i = 0; i < (opts.churnWhileRegistering ?? 0); i++) await writer.churnOnce();
    })(),
  ]);
  return {
    name,
    legacy,
    legacyClient,
    writer,
    cdcTopic: connector.topic,
    logTopic: `${name}.${process.pid}.registrations`,
    deadLetterTopic: `${name}.${process.pid}.dead-letters`,
    targets,
    async cleanup() {
      // cleanup drops the replication slot, which would otherwise keep WAL for ever.
      await deleteConnector(connectUrl(), connector.name, { cleanup: spec }).catch(() => undefined);
      await legacyClient.end().catch(() => undefined);
    },
  };
}

export function bridgeConfig(
  s: Scenario,
  targets: Array<{ name: string; db: string; release: string; hashSize: number; table?: string }>,
  withIngest = true,
): Config {
  return parseConfig(
    {
      kafka: { brokers: kafkaBrokers(), sessionTimeoutSeconds: KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS },
      log: { topic: s.logTopic, partitions: 4, deadLetterTopic: s.deadLetterTopic },
      sources: withIngest ? [{ name: 'legacy', release: '2.1', topic: s.cdcTopic, groupId: `${s.name}-${process.pid}-ingest` }] : [],
      targets: targets.map((t) => ({ ...t, table: t.table ?? 'location', groupId: `${s.name}-${process.pid}-${t.name}` })),
      http: { port: 0 },
    },
    {},
  );
}

/** Compares the live bindings of the legacy table and a target (every column except ids). */
export async function compare(s: Scenario, targetUrl: string, targetRelease: string, table = 'location'): Promise<BindingDiff> {
  const now = Math.floor(Date.now() / 1000);
  const source = await openDb(s.legacy.url);
  const target = await openDb(targetUrl);
  try {
    const a = await readBindingSet(source, { table: 'location', release: '2.1', timeZone: 'UTC', caseSensitive: false, now });
    const b = await readBindingSet(target, { table, release: targetRelease, timeZone: 'UTC', caseSensitive: true, now });
    return diffBindingSets(a, b);
  } finally {
    await source.close();
    await target.close();
  }
}

/** Polls until the target equals the source, or fails with the last difference. */
export async function waitForEqual(
  s: Scenario,
  targetUrl: string,
  targetRelease: string,
  timeoutMs = 120_000,
  table = 'location',
): Promise<BindingDiff> {
  const deadline = Date.now() + timeoutMs;
  let last: BindingDiff;
  do {
    last = await compare(s, targetUrl, targetRelease, table);
    if (last.equal) return last;
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(
    `target did not converge in ${timeoutMs} ms: ${JSON.stringify({ onlyInSource: last.onlyInSource, onlyInTarget: last.onlyInTarget, examples: last.examples })}`,
  );
}

/** contact_id of every target row, by Call-ID (unique per binding in the generated workload). */
export async function idsByCallid(url: string, table = 'location'): Promise<Map<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT callid, contact_id::text AS id FROM ${table}`);
    return new Map(rows.map((r) => [r.callid as string, r.id as string]));
  } finally {
    await c.end();
  }
}

/** `ulbridge run --config` as a child process (for crash tests). */
export function spawnBridge(cfg: Config): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-e2e-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(cfg));
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ULBRIDGE_LOG_LEVEL: 'warn' },
  });
}

export async function churn(s: Scenario, changes: number): Promise<void> {
  for (let i = 0; i < changes; i++) await s.writer.churnOnce();
}
