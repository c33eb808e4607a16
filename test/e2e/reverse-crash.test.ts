import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../src/demo/workload.js';
import { CutoverRig } from './cutover.js';

// Issue 5, reverse sync under crashes (2.1 legacy table in PostgreSQL): `ulbridge run` (ingest, projection and reverse sync in one
// process) is killed with SIGKILL 6 times while both registrars write, then its legacy database
// session is cut. Afterwards the two tables
// hold the same bindings, every target row is linked to exactly one legacy row (no duplicate from
// a redelivered batch), and nothing loops.

let rig: CutoverRig;

before(async () => {
  rig = await CutoverRig.create('e2e_revcrash', { legacy: 'postgres', rows: 1_200, aors: 900, seed: 77, hashSize: 9 });
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
  assert.ok((await rig.cutReverseLegacySessions()) >= 1, 'the reverse sync held a legacy session');
  await rig.traffic(120);
  await rig.statusReady();
  await rig.diffEqual();
  await rig.assertQuiet();
  assert.equal(await rig.unlinkedTargetRows(), 0, 'every target row is linked to exactly one legacy row');
  // Expired rows stay in the legacy table until a legacy registrar's timer removes them; the
  // target never holds them (docs/decisions.md). Live rows match one to one.
  const live = await rig.liveRowCounts(Math.floor(Date.now() / 1000));
  assert.equal(live.legacy, live.target, 'one live legacy row per live target row');
  await rig.verifyClean();
  await rig.stopBridge();
});
