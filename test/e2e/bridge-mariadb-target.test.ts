import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { runStatus } from '../../src/service/status.js';
import type { StatusReport } from '../../src/service/statusVerdict.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { silentLogger } from '../../src/ops/logger.js';
import type { Config } from '../../src/ops/config.js';
import { runVerify } from '../../src/verify/verify.js';
import { freshMariaDb, mariaDbUrl, type FreshDb } from '../support/services.js';
import { bridgeConfig, churn, legacyScenario, waitForEqual, type Scenario } from './harness.js';

// A real Debezium-captured 2.1 PostgreSQL table projected by the bridge into two MariaDB targets,
// a 4.0 table (hash_size 9) and a 2.2 table (hash_size 12), with churn while it streams: both end
// equal to the source binding by binding, verify clean, and `ulbridge status` reads their offsets.

let s: Scenario;
let bridge: Bridge | null = null;
let m40: FreshDb;
let m22: FreshDb;
let cfg: Config;

before(async () => {
  s = await legacyScenario('e2e_maria', { rows: 3_000, aors: 2_000, seed: 11, targets: [] });
  m40 = await freshMariaDb('e2e_maria40');
  m22 = await freshMariaDb('e2e_maria22');
  await createLocationTable(m40.url, '4.0');
  await createLocationTable(m22.url, '2.2');
  cfg = bridgeConfig(s, [
    { name: 'm40', db: m40.url, release: '4.0', hashSize: 9 },
    { name: 'm22', db: m22.url.replace(/^mysql:/, 'mariadb:'), release: '2.2', hashSize: 12 },
  ]);
  // The state database is server-wide on MySQL: one of its own per test database.
  cfg.targets[0]!.stateSchema = `${m40.name}_st`;
  cfg.targets[1]!.stateSchema = `${m22.name}_st`;
});

after(async () => {
  await bridge?.stop();
  await s?.cleanup();
  const admin = await mysql.createConnection({ uri: mariaDbUrl() });
  try {
    for (const db of [m40, m22]) if (db) await admin.query(`DROP DATABASE IF EXISTS \`${db.name}_st\``);
  } finally {
    await admin.end();
  }
  await m40?.drop();
  await m22?.drop();
});

async function verifyClean(url: string, release: string, hashSize: number, rows: number): Promise<void> {
  const report = await runVerify({
    db: url,
    table: 'location',
    release,
    hashSize,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: Math.floor(Date.now() / 1000),
    details: 3,
    batchSize: 5000,
  });
  assert.equal(report.rowsRead, rows);
  assert.equal(report.rejected.total, 0, JSON.stringify(report.details?.rejected));
  assert.equal(report.duplicateContactIds.ids, 0);
  assert.equal(report.ambiguousRecordLabels.labels, 0);
  assert.equal(report.clean, true);
}

test('snapshot of 3k rows and 1.5k changes while streaming: the MariaDB 4.0 and 2.2 targets equal the source and verify clean', async () => {
  bridge = await startBridge(cfg, silentLogger, { http: false });
  // Churn at once, while the snapshot streams through ingest and both projections.
  await churn(s, 1_500);
  const live = s.writer.rows.size;
  const a = await waitForEqual(s, m40.url, '4.0');
  assert.equal(a.target.rows, live, 'one 4.0 row per legacy row, nothing duplicated');
  const b = await waitForEqual(s, m22.url, '2.2');
  assert.equal(b.target.rows, live, 'one 2.2 row per legacy row, nothing duplicated');
  await verifyClean(m40.url, '4.0', 9, live);
  await verifyClean(m22.url, '2.2', 12, live);

  // Every id was recorded in the target's state database with the binding that owns it.
  for (const [db, target] of [
    [m40, cfg.targets[0]!],
    [m22, cfg.targets[1]!],
  ] as const) {
    const c = await mysql.createConnection({ uri: db.url, supportBigNumbers: true, bigNumberStrings: true });
    try {
      const [[row]] = (await c.query(
        `SELECT COUNT(*) AS n, SUM(b.contact_id IS NOT NULL) AS owned FROM location AS l LEFT JOIN \`${target.stateSchema}\`.bindings AS b ON b.contact_id = l.contact_id AND b.in_target`,
      )) as unknown as [[{ n: string; owned: string }]];
      assert.deepEqual(row, { n: String(live), owned: String(live) });
    } finally {
      await c.end();
    }
  }
});

test('ulbridge status reads the stored offsets of MariaDB targets: started, lag 0, verify clean', async () => {
  const deadline = Date.now() + 60_000;
  let r: StatusReport;
  do {
    r = await runStatus({ config: cfg, deadLettersSinceMs: null });
    if (r.project.every((p) => p.lag === 0)) break;
    await new Promise((res) => setTimeout(res, 500));
  } while (Date.now() < deadline);
  assert.deepEqual(
    r.project.map((p) => [p.target, p.started, p.lag, p.partitions.length, p.verify.clean, p.lastAppliedAt !== null]),
    [
      ['m40', true, 0, 4, true, true],
      ['m22', true, 0, 4, true, true],
    ],
  );
  assert.deepEqual(r.reasons, []);
});
