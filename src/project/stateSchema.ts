import type pg from 'pg';

/** Quotes a PostgreSQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A possibly schema-qualified table name (`location` or `public.location`), quoted. */
export function qualified(name: string): string {
  return name.split('.').map(ident).join('.');
}

/**
 * First record label ulbridge hands out. 131072 * 2^14 = 2^31, so every id ulbridge writes is
 * above the 2^31-1 MAXVALUE of OpenSIPS's PostgreSQL contact_id sequence: rows that a DB-only
 * registrar inserts (ids from the sequence) can never take an id ulbridge assigned.
 */
export const FIRST_RLABEL = 131072;

/** The columns of the state's `bindings` table that the applier writes, in both dialects (created here and in mysqlState.ts). */
export const BINDING_STATE_COLUMNS = [
  'binding',
  'source_name',
  'source_row_key',
  'log_partition',
  'aor',
  'clabel',
  'contact_id',
  'in_target',
  'pos_major',
  'pos_minor',
  'pos_seq',
] as const;

/**
 * ulbridge's state for one target, in a schema of its own in the target database. Record labels
 * come from one sequence, so they are unique across the whole target: unique per slot for every
 * hash_size, which keeps id lookups unambiguous after a later hash_size change too.
 */
export function stateSchemaSql(schema: string): string[] {
  const s = ident(schema);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE SEQUENCE IF NOT EXISTS ${s}.rlabel_seq AS bigint START ${FIRST_RLABEL} MINVALUE ${FIRST_RLABEL} MAXVALUE 4294967295 NO CYCLE`,
    `CREATE TABLE IF NOT EXISTS ${s}.aors (
       aor text PRIMARY KEY,
       aorhash integer NOT NULL,
       slot integer NOT NULL,
       rlabel bigint NOT NULL,
       next_clabel integer NOT NULL,
       -- true once next_clabel wrapped past 16383: only then can a new label meet a live one
       wrapped boolean NOT NULL DEFAULT false,
       UNIQUE (slot, rlabel)
     )`,
    `CREATE TABLE IF NOT EXISTS ${s}.bindings (
       binding text PRIMARY KEY,
       source_name text NOT NULL,
       source_row_key bigint NOT NULL,
       log_partition integer NOT NULL,
       aor text,
       clabel integer,
       contact_id bigint UNIQUE,
       in_target boolean NOT NULL,
       pos_major bigint NOT NULL,
       pos_minor bigint NOT NULL,
       pos_seq bigint NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now()
     )`,
    // Live contact labels of an AOR are found by contact_id range (its ids are contiguous:
    // clabel is the low 14 bits) on the UNIQUE (contact_id) index; the former partial index on aor
    // cost an index insert per binding and is dropped where an older version created it.
    `DROP INDEX IF EXISTS ${s}.bindings_aor_idx`,
    // bindings.aor used to reference aors (aor): the check (a trigger and a row lock on the AOR
    // per binding written) cost about half of every bindings INSERT, and the applier is the only
    // writer of both tables (it writes the AOR first in the same transaction). MySQL/MariaDB state
    // never had it. Dropped where it exists; checked first, as ALTER TABLE would lock the table
    // even when there is nothing to drop.
    `DO $drop_fk$ BEGIN
       IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '${s.replace(/'/g, "''")}.bindings'::regclass AND contype = 'f') THEN
         ALTER TABLE ${s}.bindings DROP CONSTRAINT IF EXISTS bindings_aor_fkey;
       END IF;
     END $drop_fk$`,
    // Reverse sync (shared targets): the transactions the projection committed, by the 32-bit xid
    // Debezium reports as source.txId, so their change events are not copied back (no loops); and
    // the registrar's rows that reverse sync copied into the legacy table, by the legacy row's
    // binding key, so the projection adopts them instead of inserting a duplicate.
    `CREATE TABLE IF NOT EXISTS ${s}.own_tx (
       xid bigint PRIMARY KEY,
       committed_at timestamptz NOT NULL DEFAULT now()
     )`,
    `CREATE TABLE IF NOT EXISTS ${s}.links (
       contact_id bigint PRIMARY KEY,
       binding text NOT NULL UNIQUE,
       legacy_id bigint NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     )`,
    `CREATE TABLE IF NOT EXISTS ${s}.offsets (
       topic text NOT NULL,
       partition integer NOT NULL,
       next_offset bigint NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (topic, partition)
     )`,
  ];
}

/** Creates the state schema; safe to run concurrently from several instances. */
export async function ensureStateSchema(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query('BEGIN');
  try {
    // One instance at a time creates the objects; CREATE ... IF NOT EXISTS alone races.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ulbridge-state:${schema}`]);
    for (const sql of stateSchemaSql(schema)) await client.query(sql);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK');
    throw e;
  }
}
