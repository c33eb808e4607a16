import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { silentLogger } from '../../src/ops/logger.js';
import { bridgeConfig, churn, legacyScenario, waitForEqual, type Scenario } from './harness.js';

// Changes made while Debezium is still snapshotting the legacy table (updates and, above all,
// deletes, which must carry the whole row) reach the target like any other.

let s: Scenario;
let bridge: Bridge | null = null;

before(async () => {
  s = await legacyScenario('e2e_snapchurn', {
    rows: 8_000,
    aors: 6_000,
    seed: 4,
    targets: [{ release: '4.0' }],
    churnWhileRegistering: 3_000,
  });
});

after(async () => {
  await bridge?.stop();
  await s?.cleanup();
});

test('changes committed during the snapshot are applied; no dead letters', async () => {
  // 3,000 changes were made while the connector created its slot and snapshotted 8,000 rows;
  // 1,500 more follow while it streams.
  await churn(s, 1_500);
  assert.ok(s.writer.counts.deregistrations > 300);
  bridge = await startBridge(bridgeConfig(s, [{ name: 'main', db: s.targets[0]!.url, release: '4.0', hashSize: 9 }]), silentLogger, {
    http: false,
  });
  const final = await waitForEqual(s, s.targets[0]!.url, '4.0');
  assert.equal(final.target.rows, s.writer.rows.size);
  const dead = await bridge.metrics.deadLetters.get();
  assert.deepEqual(dead.values, []);
});
