import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { runVerify } from '../../src/verify/verify.js';
import { rng } from '../../src/demo/workload.js';
import { offsetsMark, waitForCommittedBatches } from '../support/commitWatch.js';
import { bridgeConfig, churn, idsByCallid, legacyScenario, spawnBridge, waitForEqual, type Scenario } from './harness.js';

// Issue 4, e2e b: kill -9 the bridge (ingest and projection in one `ulbridge run` process) at
// random points 10 times while it streams, each time only after it committed 2-5 batches since its
// start (so the kill lands mid-apply, not during start-up). The final table is the same, nothing
// is lost or duplicated, and bindings that did not change keep their contact ids.

let s: Scenario;
let child: ChildProcess | null = null;

before(async () => {
  s = await legacyScenario('e2e_crash', { rows: 3_000, aors: 2_000, seed: 2, targets: [{ release: '4.0' }] });
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await s?.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function killHard(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGKILL');
  await gone;
}

test('10 kill -9 while streaming: same final table, nothing lost or duplicated, unchanged bindings keep their ids', async () => {
  const cfg = bridgeConfig(s, [{ name: 'main', db: s.targets[0]!.url, release: '4.0', hashSize: 9 }]);
  child = spawnBridge(cfg);
  await waitForEqual(s, s.targets[0]!.url, '4.0');
  const idsAfterSnapshot = await idsByCallid(s.targets[0]!.url);
  assert.equal(idsAfterSnapshot.size, 3_000);
  const callidsAtStart = new Map([...s.writer.rows.values()].map((r) => [r.callid, r]));

  const random = rng(99);
  let mark = await offsetsMark(s.targets[0]!.url, 'ulbridge_main');
  const committedBeforeKill: number[] = [];
  for (let kill = 0; kill < 10; kill++) {
    // Changes keep flowing while the bridge runs; it dies at once, but only after it committed
    // 2-5 batches since it was started (read from the offsets rows in the target's state schema),
    // so every kill lands in steady apply, with changes in flight, never during start-up.
    const batches = 2 + Math.floor(random() * 4);
    const perTick = 5 + Math.floor(random() * 10);
    const seen = await waitForCommittedBatches(s.targets[0]!.url, 'ulbridge_main', mark, batches, {
      what: `round ${kill}: the bridge started ${kill === 0 ? 'first' : 'after the previous kill'}`,
      // After a restart the first commit applies the changes made while the bridge was down;
      // new changes only flow from then on, so a slow start-up does not multiply the churn.
      between: async (committed) => {
        assert.equal(child!.exitCode ?? child!.signalCode, null, 'the bridge is still running');
        if (committed > 0 || kill === 0) await churn(s, perTick);
        await sleep(50);
      },
    });
    committedBeforeKill.push(seen);
    await churn(s, perTick); // the kill meets these changes in flight
    await killHard(child);
    await churn(s, 20 + Math.floor(random() * 40)); // changes while it is down
    mark = await offsetsMark(s.targets[0]!.url, 'ulbridge_main');
    child = spawnBridge(cfg);
    await sleep(Math.floor(random() * 1500));
  }
  assert.equal(committedBeforeKill.length, 10);
  assert.ok(
    committedBeforeKill.every((n) => n >= 2),
    `every kill came after at least 2 batches committed since its start: ${committedBeforeKill.join(', ')}`,
  );
  const final = await waitForEqual(s, s.targets[0]!.url, '4.0', 180_000);
  await killHard(child);

  assert.equal(final.target.rows, s.writer.rows.size, 'one target row per legacy row: nothing duplicated');
  assert.equal(final.onlyInSource + final.onlyInTarget, 0, 'nothing lost');
  const idsNow = await idsByCallid(s.targets[0]!.url);
  assert.equal(idsNow.size, s.writer.rows.size, 'Call-IDs are unique per binding');
  // Bindings whose legacy row is unchanged since the snapshot kept their contact id.
  let unchanged = 0;
  for (const row of s.writer.rows.values()) {
    const before = callidsAtStart.get(row.callid);
    if (before && before.cseq === row.cseq && before.expires === row.expires) {
      unchanged++;
      assert.equal(idsNow.get(row.callid), idsAfterSnapshot.get(row.callid), `binding ${row.callid} kept its id`);
    }
  }
  assert.ok(unchanged >= 1_500, `most bindings were left untouched by the churn (${unchanged})`);
  const report = await runVerify({
    db: s.targets[0]!.url,
    table: 'location',
    release: '4.0',
    hashSize: 9,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: Math.floor(Date.now() / 1000),
    details: 0,
    batchSize: 5000,
  });
  assert.equal(report.clean, true);
});
