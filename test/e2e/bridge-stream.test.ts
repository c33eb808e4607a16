import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { silentLogger } from '../../src/ops/logger.js';
import { runVerify } from '../../src/verify/verify.js';
import { bridgeConfig, churn, compare, idsByCallid, legacyScenario, waitForEqual, type Scenario } from './harness.js';

// Issue 4, e2e a and c: snapshot of 10k rows, 5k changes while streaming; the target equals the
// source row by row (every column but the ids) and verifies clean; then the registration log is
// replayed into a second target with another hash_size.

let s: Scenario;
let bridge: Bridge | null = null;

before(async () => {
  s = await legacyScenario('e2e_stream', { rows: 10_000, aors: 7_000, seed: 1, targets: [{ release: '4.0' }, { release: '2.2' }] });
});

after(async () => {
  await bridge?.stop();
  await s?.cleanup();
});

async function verifyClean(url: string, release: string, hashSize: number): Promise<void> {
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
  assert.equal(report.rejected.total, 0, JSON.stringify(report.details?.rejected));
  assert.equal(report.ambiguousRecordLabels.labels, 0);
  assert.equal(report.duplicateContactIds.ids, 0);
  assert.equal(report.expired, 0);
  assert.equal(report.clean, true);
}

test('snapshot of 10k rows then 5k changes while streaming: the 4.0 target equals the source and verifies clean', async () => {
  bridge = await startBridge(bridgeConfig(s, [{ name: 'a', db: s.targets[0]!.url, release: '4.0', hashSize: 9 }]), silentLogger, {
    http: false,
  });
  const snapshot = await waitForEqual(s, s.targets[0]!.url, '4.0');
  assert.equal(snapshot.target.live, 10_000);
  assert.equal(snapshot.target.rows, 10_000);

  await churn(s, 5_000);
  const c = s.writer.counts;
  assert.equal(c.refreshes + c.newContacts + c.newAors + c.deregistrations, 5_000);
  const final = await waitForEqual(s, s.targets[0]!.url, '4.0');
  assert.equal(final.target.rows, s.writer.rows.size, 'one target row per legacy row, nothing duplicated');
  assert.equal(final.source.live, s.writer.rows.size);
  await verifyClean(s.targets[0]!.url, '4.0', 9);
});

test('replaying the registration log into a new 2.2 target with hash_size 12 gives the same bindings, verify clean', async () => {
  await bridge!.stop();
  const idsBefore = await idsByCallid(s.targets[0]!.url);
  // Target a keeps its state; target b starts from offset 0 of the log (ingest not needed).
  bridge = await startBridge(
    bridgeConfig(
      s,
      [
        { name: 'a', db: s.targets[0]!.url, release: '4.0', hashSize: 9 },
        { name: 'b', db: s.targets[1]!.url, release: '2.2', hashSize: 12 },
      ],
      false,
    ),
    silentLogger,
    { http: false },
  );
  const replayed = await waitForEqual(s, s.targets[1]!.url, '2.2');
  assert.equal(replayed.target.rows, s.writer.rows.size);
  await verifyClean(s.targets[1]!.url, '2.2', 12);
  // Restarting target a re-read nothing into new ids: every binding kept its contact id.
  assert.deepEqual(await idsByCallid(s.targets[0]!.url), idsBefore);
  assert.equal((await compare(s, s.targets[0]!.url, '4.0')).equal, true);
});
