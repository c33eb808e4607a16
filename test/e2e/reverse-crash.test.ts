import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../src/demo/workload.js';
import { offsetsMark, waitForCommittedBatches } from '../support/commitWatch.js';
import { metricValue } from '../support/metrics.js';
import { freePort } from '../support/net.js';
import { CutoverRig } from './cutover.js';

// Issue 5, reverse sync under crashes (2.1 legacy table in PostgreSQL): `ulbridge run` (ingest, projection and reverse sync in one
// process) is killed with SIGKILL 6 times while both registrars write, each time only after its
// projection and its reverse sync committed batches since its start (mid-apply, not during
// start-up), then its legacy database
// session is cut. Afterwards the two tables
// hold the same bindings, every target row is linked to exactly one legacy row (no duplicate from
// a redelivered batch), and nothing loops.

let rig: CutoverRig;

before(async () => {
  rig = await CutoverRig.create('e2e_revcrash', { legacy: 'postgres', rows: 1_200, aors: 900, seed: 77, hashSize: 9 });
  rig.httpPort = await freePort();
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
  let mark = await offsetsMark(rig.target.url, 'ulbridge_main');
  let reverseMark = await rig.reverseCommitted();
  const seenBeforeKill: Array<{ batches: number; reverseMoved: boolean }> = [];
  for (let kill = 0; kill < 6; kill++) {
    // Both registrars keep working; the bridge dies only once, since its start, its projection
    // committed 2-4 batches (offsets rows in the target's state schema) and its reverse sync
    // committed at least once (its group's Kafka offsets moved): both are in steady apply.
    const batches = 2 + Math.floor(random() * 3);
    const seen = await waitForCommittedBatches(rig.target.url, 'ulbridge_main', mark, batches, {
      what: `round ${kill}: projection of the bridge started ${kill === 0 ? 'first' : 'after the previous kill'}`,
      // After a restart the first commit applies the changes made while the bridge was down;
      // new traffic only flows from then on, so a slow start-up does not multiply it.
      between: async (committed) => {
        if (committed > 0 || kill === 0) await rig.traffic(6);
        await sleep(50);
      },
    });
    const deadline = Date.now() + 60_000;
    let reverseNow = await rig.reverseCommitted();
    while (reverseNow === reverseMark) {
      assert.ok(
        Date.now() < deadline,
        `round ${kill}: the reverse sync committed nothing within 60 s of the bridge's start (offsets ${reverseNow})`,
      );
      await rig.traffic(6);
      await sleep(100);
      reverseNow = await rig.reverseCommitted();
    }
    seenBeforeKill.push({ batches: seen, reverseMoved: reverseNow !== reverseMark });
    await rig.traffic(10); // the kill meets these changes in flight
    await rig.killBridge();
    await rig.traffic(30); // both registrars keep working while the bridge is down
    mark = await offsetsMark(rig.target.url, 'ulbridge_main');
    reverseMark = await rig.reverseCommitted();
    rig.startBridge();
    await sleep(Math.floor(random() * 1500));
  }
  assert.equal(seenBeforeKill.length, 6);
  assert.ok(
    seenBeforeKill.every((x) => x.batches >= 2 && x.reverseMoved),
    `every kill came after committed batches of both stages: ${JSON.stringify(seenBeforeKill)}`,
  );
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
  // README: `ulbridge_events_out_total{stage="reverse",outcome="own_write"}` counts the projection's
  // own changes that reverse sync skipped; the runbook's `outcome="kept_target"` is exported too.
  const metrics = await rig.metrics();
  const ownWrites = metricValue(metrics, 'ulbridge_events_out_total', { stage: 'reverse', pipeline: 'rollback', outcome: 'own_write' });
  assert.ok(
    ownWrites !== undefined && ownWrites > 0,
    `own_write counted by the last bridge process:\n${metrics
      .split('\n')
      .filter((l) => l.startsWith('ulbridge_events_out_total'))
      .join('\n')}`,
  );
  assert.match(metrics, /^ulbridge_events_out_total\{stage="project",pipeline="main",outcome="kept_target"\} \d+$/m);
  await rig.stopBridge();
});
