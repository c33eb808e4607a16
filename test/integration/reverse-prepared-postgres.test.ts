/**
 * PostgreSQL: reverse sync's statements on the target (the lookup, label state, links) and on the
 * legacy table (version reads, set-based writes) run as named prepared statements
 * (src/db/pgPrepared.ts), parsed once per connection, and answer as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openDb } from '../../src/db/open.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { LegacyTable } from '../../src/reverse/legacyTable.js';
import { ensureReverseState } from '../../src/reverse/labels.js';
import { pgReverseSession } from '../../src/reverse/pgTarget.js';
import { logEvent } from '../support/logEvents.js';
import { freshPostgresDb, type FreshDb } from '../support/services.js';

let db: FreshDb;
let client: pg.Client;

before(async () => {
  db = await freshPostgresDb('revprep');
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await ensureStateSchema(client, 'st');
  await ensureReverseState(client, 'st');
});

after(async () => {
  await client?.end();
  await db?.drop();
});

test('the lookup, the label state read and the links write are prepared once, over repeated slices', async () => {
  const session = pgReverseSession(client, 'st');
  await client.query('INSERT INTO st.own_tx (xid) VALUES (77)');
  const changes = [
    { event: logEvent('UPSERT', 501n, 1n, 'alice'), txId: 77n },
    { event: logEvent('UPSERT', 502n, 2n, 'bob'), txId: 78n },
  ];
  for (let slice = 0; slice < 3; slice++) {
    assert.deepEqual((await session.lookUp('legacy', changes)).verdicts, ['own', 'foreign']);
    const { aors, takeRlabel } = await session.legacyAors(new Map([['carol', { key: 'carol', aorhash: 1, slot: 1 }]]));
    assert.equal(aors.size, slice === 0 ? 0 : 1);
    const labels = slice === 0 ? [{ aor: 'carol', aorhash: 1, slot: 1, rlabel: takeRlabel(), nextClabel: 1, wrapped: false }] : [];
    await session.writeLinks('legacy', new Map([[9000n + BigInt(slice), 600n + BigInt(slice)]]), new Set(), labels);
  }
  assert.deepEqual(
    (await client.query('SELECT contact_id::text, legacy_id::text FROM st.links ORDER BY 1')).rows.map((r) => Object.values(r).join('|')),
    ['9000|600', '9001|601', '9002|602'],
  );
  const { rows } = await client.query(
    `SELECT name ~ '^ulbridge_[0-9]+$' AS ours, left(regexp_replace(statement, '\\s+', ' ', 'g'), 30) AS text
       FROM pg_prepared_statements ORDER BY substring(name FROM '[0-9]+$')::int`,
  );
  assert.deepEqual(
    rows.map((r) => `${r.ours}|${r.text}`),
    ['true|SELECT 0 AS o, xid::text AS c,', 'true|WITH known AS (SELECT aor, aor', 'true|WITH dropped AS (DELETE FROM "'],
  );
});

test('legacy table: version reads and set-based writes are prepared; other statements on the connection are not', async () => {
  const legacyDb = await freshPostgresDb('revprepl');
  await createLocationTable(legacyDb.url, '2.1');
  const conn = await openDb(legacyDb.url);
  try {
    const legacy = new LegacyTable(conn, 'location', { release: '2.1', timeZone: 'UTC' });
    const reg = (cseq: number) => ({ ...logEvent('UPSERT', 1n, 1n, 'alice', cseq).registration! });
    for (let round = 0; round < 3; round++) {
      const [id] = await legacy.insertAutoIds([reg(1)]);
      const versions = await legacy.readVersions([id!]);
      assert.equal(versions.get(id!)?.cseq, 1);
      assert.equal(await legacy.updateRows([{ id: id!, reg: reg(2), expect: versions.get(id!)! }]), 1);
      assert.equal(await legacy.deleteRows([{ id: id! }]), 1);
    }
    assert.deepEqual(await conn.query('SELECT count(*)::int AS n FROM location'), [{ n: 0 }]);
    const rows = await conn.query<{ s: string }>(
      `SELECT left(regexp_replace(statement, '\\s+', ' ', 'g'), 24) AS s FROM pg_prepared_statements ORDER BY statement COLLATE "C"`,
    );
    assert.deepEqual(
      rows.map((r) => r.s),
      ['DELETE FROM "location" W', 'SELECT "id"::text AS id,', 'UPDATE "location" AS l S', 'WITH ids AS MATERIALIZED'],
    );
  } finally {
    await conn.close();
    await legacyDb.drop();
  }
});
