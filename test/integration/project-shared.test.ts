import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { applyBatch } from '../../src/project/apply.js';
import type { LogMessage } from '../../src/project/batch.js';
import { pgSession } from '../../src/project/pgSession.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { compileTarget } from '../../src/project/target.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { encodeEvent } from '../../src/log/codec.js';
import { packContactId } from '../../src/opensips/contactId.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { freshPostgresDb, type FreshDb } from '../support/services.js';

// The projection into a shared target (one that a reverse sync reads, so the new registrar writes
// it too), on real PostgreSQL: linked registrar rows are adopted, the conflict rule keeps newer
// target rows, and every apply transaction records its xid for reverse sync's loop check.

const NOW = 1764000000; // 2025-11-24 16:00:00 UTC
const target = compileTarget({
  name: 's',
  db: '',
  table: 'location',
  release: '4.0',
  hashSize: 9,
  useDomain: false,
  signedness: 'signed',
  timeZone: 'UTC',
  stateSchema: 'ulbridge_s',
  shared: true,
});
const REGISTRAR_ROW = packContactId({ aorhash: 1706, rlabel: 1000, clabel: 0 }); // "callee", the registrar's own label
let db: FreshDb;
let c: pg.Client;

function ev(
  op: 'UPSERT' | 'DELETE',
  rowKey: bigint,
  major: bigint,
  user: string,
  cseq: number,
  lastModified = NOW,
  expires = NOW + 3600,
): RegistrationEvent {
  return {
    op,
    source: {
      name: 'legacy',
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey,
      position: { major, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 0n,
    },
    registration: {
      username: user,
      domain: 'example.com',
      contact: `sip:${user}@192.0.2.${rowKey}:5060`,
      received: null,
      path: null,
      expires: BigInt(expires),
      q: 1,
      callid: `cid-${rowKey}`,
      cseq,
      lastModified: BigInt(lastModified),
      flags: 0,
      cflags: null,
      userAgent: 'ua',
      socket: null,
      methods: null,
      sipInstance: null,
      kvStore: null,
      attr: null,
    },
  };
}
const msg = (offset: number, e: RegistrationEvent): LogMessage => ({
  offset: String(offset),
  key: Buffer.from(`legacy:${e.source.rowKey}`),
  value: encodeEvent(e),
});
// The cases pick offsets freely: each batch is fetched from 0, as if compaction removed the records in between.
const apply = (messages: LogMessage[]) =>
  applyBatch(pgSession(c, target), { topic: 'log', partition: 0, messages, fetchedOffset: '0', now: NOW });

async function rows(): Promise<string[]> {
  const r = await c.query(`SELECT contact_id::text, username, callid, cseq, last_modified::text FROM location ORDER BY contact_id`);
  return r.rows.map((x) => Object.values(x).join('|'));
}

before(async () => {
  db = await freshPostgresDb('project_shared');
  await createLocationTable(db.url, '4.0');
  c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await ensureStateSchema(c, 'ulbridge_s');
  // The new registrar registered callee (cid-9, CSeq 4); reverse sync copied it to legacy row 9 and linked it.
  await c.query(
    `INSERT INTO location (contact_id, username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES (${REGISTRAR_ROW}, 'callee', 'example.com', 'sip:callee@192.0.2.9:5060', ${NOW + 3600}, 'cid-9', 4, '2025-11-24 16:00:00', 'ua')`,
  );
  await c.query(`INSERT INTO ulbridge_s.links (contact_id, binding, legacy_id) VALUES (${REGISTRAR_ROW}, 'legacy:9', 9)`);
});

after(async () => {
  await c?.end();
});

test("the echo of a reverse-synced insert adopts the registrar's row: no second row, nothing written", async () => {
  const r = await apply([msg(0, ev('UPSERT', 9n, 10n, 'callee', 4))]);
  assert.deepEqual({ applied: r.applied, kept: r.kept }, { applied: 1, kept: 1 });
  assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|4|2025-11-24 16:00:00`]);
  const b = await c.query(`SELECT binding, contact_id::text AS id, in_target FROM ulbridge_s.bindings`);
  assert.deepEqual(b.rows, [{ binding: 'legacy:9', id: String(REGISTRAR_ROW), in_target: true }]);
});

test('a newer legacy change of the adopted binding updates the registrar row; an older one is kept out', async () => {
  const newer = await apply([msg(1, ev('UPSERT', 9n, 11n, 'callee', 5, NOW + 30))]);
  assert.equal(newer.kept, 0);
  assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|5|2025-11-24 16:00:30`]);
  // The registrar refreshes the row (CSeq 7); the legacy side's CSeq 6 arrives after it.
  await c.query(`UPDATE location SET cseq = 7, last_modified = '2025-11-24 16:01:00' WHERE contact_id = ${REGISTRAR_ROW}`);
  const older = await apply([msg(2, ev('UPSERT', 9n, 12n, 'callee', 6, NOW + 40))]);
  assert.equal(older.kept, 1);
  assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`]);
});

test('a legacy delete older than the target row is kept out and releases the binding; a newer one deletes', async () => {
  const kept = await apply([msg(3, ev('DELETE', 9n, 13n, 'callee', 6, NOW + 40))]);
  assert.equal(kept.kept, 1);
  assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`]);
  const b = await c.query(`SELECT contact_id FROM ulbridge_s.bindings WHERE binding = 'legacy:9'`);
  assert.equal(b.rows[0].contact_id, null, "the row is the registrar's again");
  // A binding ulbridge wrote, deleted by a newer legacy change.
  await apply([msg(4, ev('UPSERT', 20n, 20n, 'bob', 1))]);
  const del = await apply([msg(5, ev('DELETE', 20n, 21n, 'bob', 2, NOW + 5))]);
  assert.equal(del.kept, 0);
  assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`]);
});

test('an update whose row the registrar deleted meanwhile is written again (the binding is live on the legacy side)', async () => {
  await apply([msg(6, ev('UPSERT', 21n, 30n, 'carol', 1))]);
  const id = (await c.query(`SELECT contact_id::text AS id FROM location WHERE callid = 'cid-21'`)).rows[0].id as string;
  await c.query(`DELETE FROM location WHERE callid = 'cid-21'`);
  await apply([msg(7, ev('UPSERT', 21n, 31n, 'carol', 2, NOW + 60))]);
  assert.deepEqual((await c.query(`SELECT contact_id::text AS id, cseq FROM location WHERE callid = 'cid-21'`)).rows, [{ id, cseq: 2 }]);
});

test('a legacy copy already expired when applied leaves a newer registrar row alone, and its next change updates that row', async () => {
  // The registrar's short-lived contact, copied to legacy row 30 and linked; the registrar refreshed it since.
  const X = packContactId({ aorhash: 1706, rlabel: 1000, clabel: 5 });
  await c.query(
    `INSERT INTO location (contact_id, username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES (${X}, 'callee', 'example.com', 'sip:callee@192.0.2.30:5060', ${NOW + 600}, 'cid-30', 2, '2025-11-24 16:00:10', 'ua')`,
  );
  await c.query(`INSERT INTO ulbridge_s.links (contact_id, binding, legacy_id) VALUES (${X}, 'legacy:30', 30)`);
  const echo = await apply([msg(20, ev('UPSERT', 30n, 60n, 'callee', 1, NOW - 5, NOW - 1))]); // the copy of its first, expired state
  assert.equal(echo.kept, 1);
  const state = await c.query(`SELECT contact_id::text AS id, in_target FROM ulbridge_s.bindings WHERE binding = 'legacy:30'`);
  assert.deepEqual(state.rows, [{ id: String(X), in_target: true }], 'the binding keeps the row it did not delete');
  await apply([msg(21, ev('UPSERT', 30n, 61n, 'callee', 3, NOW + 20))]);
  const rowsOf30 = await c.query(`SELECT contact_id::text AS id, cseq FROM location WHERE callid = 'cid-30'`);
  assert.deepEqual(rowsOf30.rows, [{ id: String(X), cseq: 3 }], "updated in place: one row, the registrar's id");
});

test('a binding whose expired row the registrar wrote back is updated in that row, never duplicated', async () => {
  await apply([msg(23, ev('UPSERT', 40n, 70n, 'erin', 1, NOW, NOW - 1))]); // expired when applied: state only
  const held = (await c.query(`SELECT contact_id::text AS id, in_target FROM ulbridge_s.bindings WHERE binding = 'legacy:40'`)).rows[0];
  assert.equal(held.in_target, false);
  assert.equal((await c.query(`SELECT count(*)::int AS n FROM location WHERE callid = 'cid-40'`)).rows[0].n, 0);
  await c.query(
    `INSERT INTO location (contact_id, username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES (${held.id}, 'erin', 'example.com', 'sip:erin@192.0.2.40:5060', ${NOW + 600}, 'cid-40', 5, '2025-11-24 16:00:50', 'ua')`,
  );
  const older = await apply([msg(24, ev('UPSERT', 40n, 71n, 'erin', 4, NOW + 40))]);
  assert.equal(older.kept, 1);
  await apply([msg(25, ev('UPSERT', 40n, 72n, 'erin', 6, NOW + 60))]);
  const rows40 = await c.query(`SELECT contact_id::text AS id, cseq FROM location WHERE callid = 'cid-40'`);
  assert.deepEqual(rows40.rows, [{ id: held.id, cseq: 6 }]);
});

test('every apply transaction of a shared target records its xid (mod 2^32) for reverse sync', async () => {
  const xid = async (): Promise<bigint> => BigInt((await c.query(`SELECT txid_current()::text AS x`)).rows[0].x as string);
  const count = async (): Promise<number> => (await c.query(`SELECT count(*)::int AS n FROM ulbridge_s.own_tx`)).rows[0].n as number;
  const n0 = await count();
  const x0 = await xid();
  await apply([msg(26, ev('UPSERT', 22n, 40n, 'dave', 1))]);
  const x1 = await xid();
  assert.equal(await count(), n0 + 1);
  const recorded = await c.query(`SELECT xid::text AS x FROM ulbridge_s.own_tx WHERE xid > $1 AND xid < $2`, [
    String(x0 % 4294967296n),
    String(x1 % 4294967296n),
  ]);
  assert.equal(recorded.rows.length, 1, 'the xid of the transaction between the two probes');
});
