import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createLocationTable } from '../../src/demo/tables.js';
import { cli } from '../support/cli.js';
import { CutoverRig } from './cutover.js';

// Issue 5, the cut-over rehearsal. Follows docs/runbook.md step by step (each test names its
// step) on the real stack: a 2.1 legacy table in MariaDB and a 4.0 target in PostgreSQL, both written by registrars while
// ulbridge bridges them both ways; a growing share of AORs moves to the new registrar, `ulbridge
// status` and `ulbridge diff` prove every checkpoint, then a rollback and a hash_size resize 12 -> 8
// -> 12. The proofs are the CLI commands the runbook names, run as an operator would.

const AORS = 1_500;
const HASH_SIZE = 12;
const CHANGES_PER_PHASE = 400;

let rig: CutoverRig;
const statusOutputs: string[] = [];
const diffOutputs: string[] = [];

before(async () => {
  rig = await CutoverRig.create('e2e_rehearsal', { legacy: 'mariadb', rows: 2_000, aors: AORS, seed: 55, hashSize: HASH_SIZE });
});

after(async () => {
  await rig?.cleanup();
});

test('runbook 2c.0: preconditions: both tables captured by Debezium, config accepted, empty target verifies', async () => {
  rig.writeConfig();
  const out = await cli(['verify', '--db', rig.target.url, '--release', '4.0', '--hash-size', String(HASH_SIZE)]);
  assert.equal(out.code, 0, out.stdout + out.stderr);
});

test('runbook 2c.1: bring the target in step: status READY, diff equal, verify clean', async () => {
  rig.startBridge();
  await rig.traffic(100); // the legacy registrar keeps working during the snapshot
  statusOutputs.push(await rig.statusReady());
  diffOutputs.push(await rig.diffEqual());
  await rig.verifyClean();
});

test('runbook 2c.3-4: move a growing share of AORs to the new registrar; every checkpoint is in step', async () => {
  let moved = 0;
  for (const share of [0.2, 0.5, 0.8]) {
    const aors = rig.legacyRegistrar.aors;
    const want = Math.floor((aors.length + moved) * share) - moved;
    await rig.move(aors.slice(0, Math.max(0, want)), 'target');
    moved += Math.max(0, want);
    await rig.traffic(CHANGES_PER_PHASE);
    statusOutputs.push(await rig.statusReady());
    diffOutputs.push(await rig.diffEqual());
    await rig.assertQuiet();
    assert.equal(await rig.unlinkedTargetRows(), 0, 'every target row is linked to exactly one legacy row');
  }
  await rig.verifyClean();
  for (const c of [rig.newRegistrar.counts, rig.legacyRegistrar.counts]) {
    assert.ok(c.newAors > 0 && c.newContacts > 0 && c.refreshes > 0 && c.deregistrations > 0 && c.expiries > 0, JSON.stringify(c));
  }
});

test('runbook 3: rollback: the legacy registrar takes every AOR back and loses nothing', async () => {
  await rig.rollbackAll();
  await rig.traffic(CHANGES_PER_PHASE);
  statusOutputs.push(await rig.statusReady());
  diffOutputs.push(await rig.diffEqual());
  await rig.verifyClean();
  await rig.assertQuiet();
});

test('runbook 4: resize hash_size 12 -> 8 -> 12 live: new tables verify clean and diff equal', async () => {
  await createLocationTable(rig.target.url, '4.0', 'location_h8');
  await createLocationTable(rig.target.url, '4.0', 'location_h12');
  await rig.stopBridge();
  rig.writeConfig([{ name: 'h8', table: 'location_h8', hashSize: 8 }]);
  rig.startBridge();
  await rig.traffic(100);
  statusOutputs.push(await rig.statusReady());
  await rig.verifyClean('location_h8', 8);
  diffOutputs.push(await rig.diffEqual('location_h8', 8));
  await rig.stopBridge();
  rig.writeConfig([
    { name: 'h8', table: 'location_h8', hashSize: 8 },
    { name: 'h12', table: 'location_h12', hashSize: 12 },
  ]);
  rig.startBridge();
  await rig.traffic(100);
  statusOutputs.push(await rig.statusReady());
  await rig.verifyClean('location_h12', 12);
  diffOutputs.push(await rig.diffEqual('location_h12', 12));
  await rig.diffEqual('location', HASH_SIZE);
  await rig.stopBridge();
  // ULBRIDGE_REHEARSAL_OUT=file keeps what status and diff printed at each checkpoint.
  if (process.env.ULBRIDGE_REHEARSAL_OUT)
    writeFileSync(process.env.ULBRIDGE_REHEARSAL_OUT, `${statusOutputs.join('\n---\n')}\n=====\n${diffOutputs.join('\n---\n')}\n`);
});
