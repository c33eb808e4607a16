import type { DbConnection } from './connection.js';

/**
 * Read-only transactions that let several sessions read one table as of one moment.
 *
 * PostgreSQL: the first session exports its snapshot (pg_export_snapshot) and the others adopt
 * it (SET TRANSACTION SNAPSHOT), so all of them see exactly the same rows.
 * MySQL/MariaDB: each session starts WITH CONSISTENT SNAPSHOT; the snapshots are taken one right
 * after the other, close but not guaranteed identical while writers are active.
 */
export async function beginSharedSnapshot(first: DbConnection): Promise<string | null> {
  if (first.dialect.name === 'postgres') {
    await first.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const rows = await first.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    return rows[0]?.id ?? null;
  }
  await first.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  return null;
}

export async function joinSharedSnapshot(other: DbConnection, snapshot: string | null): Promise<void> {
  if (other.dialect.name === 'postgres') {
    await other.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    if (snapshot !== null) await other.query(`SET TRANSACTION SNAPSHOT ${other.dialect.literal(snapshot)}`);
    return;
  }
  await other.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
}

export async function endSnapshot(db: DbConnection): Promise<void> {
  await db.query('ROLLBACK').catch(() => {});
}
