/**
 * PostgreSQL targets: reverse sync's target statements (the lookup, label state, links) run as
 * named prepared statements (src/db/pgPrepared.ts), parsed once per connection, and answer as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
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
    `SELECT name, left(regexp_replace(statement, '\\s+', ' ', 'g'), 30) AS text FROM pg_prepared_statements ORDER BY name COLLATE "C"`,
  );
  assert.deepEqual(
    rows.map((r) => `${r.name}|${r.text}`),
    ['ulbridge_1|SELECT 0 AS o, xid::text AS c,', 'ulbridge_2|WITH known AS (SELECT aor, aor', 'ulbridge_3|WITH dropped AS (DELETE FROM "'],
  );
});
