import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openDb } from '../../src/db/open.js';
import type { DbConnection } from '../../src/db/connection.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { applyReverseBatch, pruneOwnTransactions, type TargetChange } from '../../src/reverse/apply.js';
import { LegacyTable } from '../../src/reverse/legacyTable.js';
import { freshMariaDb, freshPostgresDb, loadDdl, type FreshDb } from '../support/services.js';

// Reverse sync's transaction against real databases: a PostgreSQL target (its state schema) and a
// 2.1 legacy table in PostgreSQL or MariaDB. Exact legacy rows, links, the own-transaction check,
// the conflict rule and idempotence under redelivery.

const TZ = 'Europe/Berlin';
const NOW = 1764000000; // 2025-11-24 16:00:00 UTC = 17:00:00 in Berlin
const S = 'ulbridge_main';
const X = 120049079714578432n; // a registrar's contact id (aorhash 1706 = "callee")
const Y = 120049079714578433n; // a row the projection wrote for legacy row 1

function change(
  op: 'UPSERT' | 'DELETE' | 'TRUNCATE',
  contactId: bigint,
  txId: bigint | null,
  cseq = 1,
  lastModified = NOW,
  callid = 'cid-x',
): TargetChange {
  const event: RegistrationEvent = {
    op,
    source: {
      name: 'rollback',
      release: '4.0',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey: contactId,
      position: { major: 100n, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 0n,
    },
    registration:
      op === 'TRUNCATE'
        ? null
        : {
            username: 'callee',
            domain: null,
            contact: `sip:callee@192.0.2.${contactId % 250n}:5060`,
            received: 'sip:198.51.100.7:40000',
            path: null,
            expires: BigInt(NOW + 3600),
            q: 0.5,
            callid,
            cseq,
            lastModified: BigInt(lastModified),
            flags: 3,
            cflags: 'NAT',
            userAgent: 'Linphone/5.2.5',
            socket: 'udp:192.0.2.10:5060',
            methods: 8191,
            sipInstance: null,
            kvStore: null,
            attr: null,
          },
  };
  return { event, txId };
}

function scenario(kind: 'postgres' | 'mysql'): void {
  describe(`reverse apply into a ${kind} 2.1 legacy table`, () => {
    let targetDb: FreshDb;
    let legacyDb: FreshDb;
    let t: pg.Client;
    let legacyConn: DbConnection;
    let legacy: LegacyTable;

    const apply = (changes: TargetChange[]) => applyReverseBatch(t, legacy, { stateSchema: S, sourceName: 'legacy' }, changes);

    async function legacyRows(): Promise<string[]> {
      const d = legacyConn.dialect;
      const rows = await legacyConn.query<Record<string, unknown>>(
        `SELECT id, username, domain, contact, received, ${d.datetimeText('expires')} AS expires, q, callid, cseq, ${d.datetimeText('last_modified')} AS lm, flags, cflags, user_agent, socket, methods FROM location ORDER BY id`,
      );
      return rows.map((r) => Object.values(r).map(String).join('|'));
    }

    async function links(): Promise<string[]> {
      const { rows } = await t.query(`SELECT contact_id::text, binding, legacy_id::text FROM ${S}.links ORDER BY contact_id`);
      return rows.map((r) => Object.values(r).join('|'));
    }

    before(async () => {
      targetDb = await freshPostgresDb('reverse_target');
      await createLocationTable(targetDb.url, '4.0');
      t = new pg.Client({ connectionString: targetDb.url });
      await t.connect();
      await ensureStateSchema(t, S);
      legacyDb = kind === 'postgres' ? await freshPostgresDb('reverse_legacy') : await freshMariaDb('reverse_legacy');
      await loadDdl(legacyDb.url, kind, '2.1');
      legacyConn = await openDb(legacyDb.url);
      legacy = new LegacyTable(legacyConn, 'location', { release: '2.1', timeZone: TZ });
      // Legacy row 1 ('bob'), projected by ulbridge as contact id Y (a forward binding).
      await legacyConn.query(
        `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES ('bob', 'example.com', 'sip:bob@192.0.2.1', '2025-11-24 18:00:00', 'cid-bob', 5, '2025-11-24 17:00:00', 'Yealink')`,
      );
      await t.query(`INSERT INTO ${S}.aors (aor, aorhash, slot, rlabel, next_clabel) VALUES ('callee', 1706, 170, 131072, 2)`);
      await t.query(
        `INSERT INTO ${S}.bindings (binding, source_name, source_row_key, log_partition, aor, clabel, contact_id, in_target, pos_major, pos_minor, pos_seq) VALUES ('legacy:1', 'legacy', 1, 0, 'callee', 1, ${Y}, true, 1, 1, 0)`,
      );
      await t.query(`INSERT INTO ${S}.own_tx (xid) VALUES (4242)`);
    });

    after(async () => {
      await legacyConn?.close();
      await t?.end();
    });

    const X_ROW = (id: number, cseq: number, lm: string) =>
      `${id}|callee||sip:callee@192.0.2.182:5060|sip:198.51.100.7:40000|2025-11-24 18:00:00|0.5|cid-x|${cseq}|${lm}|2|NAT|Linphone/5.2.5|udp:192.0.2.10:5060|8191`;
    const BOB = (cseq: number, lm: string, callid = 'cid-bob') =>
      `1|bob|example.com|sip:bob@192.0.2.1|null|2025-11-24 18:00:00|1|${callid}|${cseq}|${lm}|0|null|Yealink|null|null`;

    test('a change the projection wrote (its xid is in own_tx) is never copied back', async () => {
      const r = await apply([change('UPSERT', X, 4242n)]);
      assert.deepEqual(r, { ownWrites: 1, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00')]);
    });

    test("a registrar's new contact becomes a new legacy row (local DATETIMEs, FL_MEM cleared) and a link", async () => {
      const r = await apply([change('UPSERT', X, 5000n)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 1, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
      assert.deepEqual(await links(), [`${X}|legacy:2|2`]);
    });

    test('the same batch redelivered changes nothing (the link finds the row, the versions are equal)', async () => {
      const r = await apply([change('UPSERT', X, 5000n)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 1, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
    });

    test('a refresh (higher CSeq) updates the legacy row in place; an older one is kept out', async () => {
      const r = await apply([change('UPSERT', X, 5001n, 2, NOW + 60), change('UPSERT', X, 5002n, 1, NOW + 120)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 1, deleted: 0, keptLegacy: 1, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a change of a row ulbridge projected goes to its legacy row by the forward binding', async () => {
      const bob = change('UPSERT', Y, 5003n, 6, NOW + 300, 'cid-bob');
      bob.event.registration = {
        ...bob.event.registration!,
        username: 'bob',
        domain: 'example.com',
        contact: 'sip:bob@192.0.2.1',
        received: null,
        q: 1,
        flags: 0,
        cflags: null,
        userAgent: 'Yealink',
        socket: null,
        methods: null,
      };
      const r = await apply([bob]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 1, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a new Call-ID wins by the later last_modified even with a lower CSeq', async () => {
      const bob = change('UPSERT', Y, 5004n, 1, NOW + 400, 'cid-bob-rebooted');
      bob.event.registration = {
        ...bob.event.registration!,
        username: 'bob',
        domain: 'example.com',
        contact: 'sip:bob@192.0.2.1',
        received: null,
        q: 1,
        flags: 0,
        cflags: null,
        userAgent: 'Yealink',
        socket: null,
        methods: null,
      };
      const r = await apply([bob]);
      assert.equal(r.updated, 1);
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a delete is kept out when the legacy row is newer, and applied (link dropped) when it is not', async () => {
      const oldBob = change('DELETE', Y, 5005n, 1, NOW + 10, 'cid-bob-rebooted');
      const r1 = await apply([oldBob]);
      assert.deepEqual(r1, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 1, ignored: 0 });
      const r2 = await apply([change('DELETE', X, 5006n, 2, NOW + 60)]);
      assert.deepEqual(r2, { ownWrites: 0, inserted: 0, updated: 0, deleted: 1, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted')]);
      assert.deepEqual(await links(), []);
      const again = await apply([change('DELETE', X, 5006n, 2, NOW + 60), change('TRUNCATE', 0n, 5007n)]);
      assert.deepEqual(again, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 2 });
    });

    test('a failed batch leaves the legacy table and the links as they were', async () => {
      const bad = change('UPSERT', 999n, 5008n);
      bad.event.registration = { ...bad.event.registration!, username: 'x'.repeat(300) }; // too long for username
      await assert.rejects(apply([change('UPSERT', 998n, 5008n), bad]));
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted')]);
      assert.deepEqual(await links(), []);
    });

    test('own_tx entries are pruned by age', async () => {
      await t.query(`UPDATE ${S}.own_tx SET committed_at = now() - interval '2 days' WHERE xid = 4242`);
      assert.equal(await pruneOwnTransactions(t, S, 86_400), 1);
      const { rows } = await t.query(`SELECT count(*)::int AS n FROM ${S}.own_tx`);
      assert.equal(rows[0].n, 0);
    });
  });
}

scenario('postgres');
scenario('mysql');
