import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { withPoolClient } from '../../src/db/pgPool.js';
import { postgresUrl } from '../support/services.js';

// A checked-out client whose server session dies (TCP reset, immediate shutdown, terminated
// backend) emits 'error'; without a listener that is an uncaught exception that ends the process.
test('a session killed while checked out: the query rejects, nothing is thrown at the process, the broken client is not reused', async () => {
  const pool = new pg.Pool({ connectionString: postgresUrl(), max: 1 });
  pool.on('error', () => undefined);
  const admin = new pg.Client({ connectionString: postgresUrl() });
  await admin.connect();
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const pid1 = await withPoolClient(pool, async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number);
    await assert.rejects(
      withPoolClient(pool, async (c) => {
        await admin.query('SELECT pg_terminate_backend($1)', [pid1]);
        await new Promise((r) => setTimeout(r, 200)); // the 'error' event of the idle-in-checkout client
        await c.query('SELECT 1');
      }),
      /terminat|Connection terminated|connection/i,
    );
    const pid2 = await withPoolClient(pool, async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number);
    assert.notEqual(pid2, pid1, 'a new session');
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    await admin.end();
    await pool.end();
  }
});
