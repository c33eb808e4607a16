import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../src/demo/workload.js';
import { CutoverRig } from './cutover.js';

// Issue 5, reverse sync under crashes: `ulbridge run` (ingest, projection and reverse sync in one
// process) is killed with SIGKILL 6 times while both registrars write, then its legacy database
// session is cut. Afterwards the two tables
// hold the same bindings, every target row is linked to exactly one legacy row (no duplicate from
// a redelivered batch), and nothing loops.

let rig: CutoverRig;

before(async () => {
  rig = await CutoverRig.create('e2e_revcrash', { rows: 1_200, aors: 900, seed: 77, hashSize: 9 });
  rig.writeConfig();
});

after(async () => {
  await rig?.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('6 kill -9 during the parallel run: same bindings both sides, no duplicates, no loop', async () => {
  rig.startBridge();
  await rig.statusReady();
  await rig.move(rig.legacyRegistrar.aors.slice(0, 450), 'target');
  const random = rng(7);
  for (let kill = 0; kill < 6; kill++) {
    // A fixed number of changes per round, so a slow machine does not change the workload.
    for (let i = 0; i < 6; i++) {
      await rig.traffic(15);
      await sleep(50 + Math.floor(random() * 250));
    }
    await rig.killBridge();
    await rig.traffic(30); // both registrars keep working while the bridge is down
    rig.startBridge();
    await sleep(Math.floor(random() * 1500));
  }
  // The reverse sync's session to the legacy database is cut while traffic flows: the batch that
  // meets the dead session fails, is retried on a new session, and nothing is lost.
  await rig.statusReady();
  const cut = await rig.s.legacyClient.query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ulbridge'");
  assert.ok(cut.rows[0].n >= 1, 'the reverse sync held a legacy session');
  await rig.traffic(120);
  await rig.statusReady();
  await rig.diffEqual();
  await rig.assertQuiet();
  assert.equal(await rig.unlinkedTargetRows(), 0, 'every target row is linked to exactly one legacy row');
  const legacyRows = (await rig.s.legacyClient.query('SELECT count(*)::int AS n FROM location')).rows[0].n;
  const targetRows = (await rig.targetClient.query('SELECT count(*)::int AS n FROM location')).rows[0].n;
  assert.equal(legacyRows, targetRows, 'one legacy row per target row');
  await rig.verifyClean();
  await rig.stopBridge();
});
