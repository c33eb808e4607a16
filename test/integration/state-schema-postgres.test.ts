import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { freshPostgresDb, withPg } from '../support/services.js';

// A state schema created by an earlier version: bindings.aor referenced aors (aor) and had a
// partial index on aor. Starting the current version drops both and keeps every row.
test('an older PostgreSQL state schema: the aor foreign key and index are dropped at start, rows kept, a second start changes nothing', async () => {
  const db = await freshPostgresDb('state');
  try {
    await withPg(db.url, async (c) => {
      await c.query(`CREATE SCHEMA old_state`);
      await c.query(`CREATE TABLE old_state.aors (aor text PRIMARY KEY, aorhash integer NOT NULL, slot integer NOT NULL,
        rlabel bigint NOT NULL, next_clabel integer NOT NULL, wrapped boolean NOT NULL DEFAULT false, UNIQUE (slot, rlabel))`);
      await c.query(`CREATE TABLE old_state.bindings (binding text PRIMARY KEY, source_name text NOT NULL, source_row_key bigint NOT NULL,
        log_partition integer NOT NULL, aor text REFERENCES old_state.aors (aor), clabel integer, contact_id bigint UNIQUE,
        in_target boolean NOT NULL, pos_major bigint NOT NULL, pos_minor bigint NOT NULL, pos_seq bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now())`);
      await c.query(`CREATE INDEX bindings_aor_idx ON old_state.bindings (aor) WHERE contact_id IS NOT NULL`);
      await c.query(`INSERT INTO old_state.aors VALUES ('alice', 1, 1, 65536, 1, false)`);
      await c.query(`INSERT INTO old_state.bindings VALUES ('b1', 'src', 1, 0, 'alice', 0, 4295032832, true, 7, 1, 0, now())`);

      const shape = async (): Promise<string[]> =>
        (
          await c.query(
            `SELECT conname || ':' || contype::text AS x FROM pg_constraint WHERE conrelid = 'old_state.bindings'::regclass
             UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = 'old_state' AND tablename = 'bindings' ORDER BY 1`,
          )
        ).rows.map((r) => r.x as string);
      assert.deepEqual(await shape(), [
        'bindings_aor_fkey:f',
        'bindings_aor_idx',
        'bindings_contact_id_key',
        'bindings_contact_id_key:u',
        'bindings_pkey',
        'bindings_pkey:p',
      ]);

      await ensureStateSchema(c, 'old_state');
      const after = ['bindings_contact_id_key', 'bindings_contact_id_key:u', 'bindings_pkey', 'bindings_pkey:p'];
      assert.deepEqual(await shape(), after);
      await ensureStateSchema(c, 'old_state');
      assert.deepEqual(await shape(), after);
      const { rows } = await c.query(`SELECT binding, aor, contact_id::text AS id FROM old_state.bindings`);
      assert.deepEqual(rows, [{ binding: 'b1', aor: 'alice', id: '4295032832' }]);
    });
  } finally {
    await db.drop();
  }
});
