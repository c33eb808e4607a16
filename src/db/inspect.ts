import type { DbConnection } from './connection.js';
import { tableMissing } from './errors.js';
import type { TableName } from './table.js';

/** Catalog look-ups on a location table: shape, unique keys, row estimate, OpenSIPS version row. */

function pgRegclass(t: TableName): string {
  const q = (s: string): string => `"${s}"`;
  return t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name);
}

/** Column names of the table, in table order; throws TABLE_MISSING when it does not exist. */
export async function tableColumns(db: DbConnection, t: TableName): Promise<string[]> {
  let rows: Array<{ name: string }>;
  if (db.dialect.name === 'postgres') {
    rows = await db.query<{ name: string }>(
      'SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
      [pgRegclass(t)],
    );
  } else {
    rows = await db.query<{ name: string }>(
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [t.schema, t.name],
    );
  }
  if (rows.length === 0) throw tableMissing(db.target, t);
  return rows.map((r) => r.name);
}

/** Whether a single-column unique index (or primary key) covers `column`: duplicates are then impossible. */
export async function hasUniqueIndexOn(db: DbConnection, t: TableName, column: string): Promise<boolean> {
  if (db.dialect.name === 'postgres') {
    const rows = await db.query<{ ok: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = $2
       ) AS ok`,
      [pgRegclass(t), column],
    );
    return rows[0]?.ok === true;
  }
  const rows = await db.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM (
       SELECT INDEX_NAME FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0
       GROUP BY INDEX_NAME HAVING COUNT(*) = 1 AND MAX(COLUMN_NAME) = ?
     ) u`,
    [t.schema, t.name, column],
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/** The planner's row estimate (no scan): pg_class.reltuples / information_schema TABLE_ROWS; null if unknown. */
export async function estimateRowCount(db: DbConnection, t: TableName): Promise<number | null> {
  let raw: unknown;
  if (db.dialect.name === 'postgres') {
    const rows = await db.query<{ n: number }>('SELECT reltuples::float8 AS n FROM pg_class WHERE oid = to_regclass($1)', [pgRegclass(t)]);
    raw = rows[0]?.n;
  } else {
    const rows = await db.query<{ n: unknown }>(
      'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
      [t.schema, t.name],
    );
    raw = rows[0]?.n;
  }
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? Math.round(n) : null;
}

export interface VersionRow {
  /** false when the database has no `version` table at all. */
  versionTablePresent: boolean;
  /** table_version for this table name, or null when no row names it. */
  version: number | null;
}

/**
 * The row OpenSIPS reads at start-up: SELECT table_version FROM version WHERE table_name = '<table>'.
 * The `version` table is looked up beside the location table (same schema / database).
 */
export async function readTableVersion(db: DbConnection, t: TableName): Promise<VersionRow> {
  const versionTable: TableName = { schema: t.schema, name: 'version', display: t.schema ? `${t.schema}.version` : 'version' };
  try {
    await tableColumns(db, versionTable);
  } catch (e) {
    if ((e as { code?: string }).code === 'TABLE_MISSING') return { versionTablePresent: false, version: null };
    throw e;
  }
  const rows = await db.query<{ v: unknown }>(
    `SELECT table_version AS v FROM ${db.dialect.table(versionTable)} WHERE table_name = ${db.dialect.param(1)}`,
    [t.name],
  );
  if (rows.length === 0) return { versionTablePresent: true, version: null };
  return { versionTablePresent: true, version: Number(rows[0]!.v) };
}

/** A column's type as the catalog states it: lower-case type name and, for date-times, its fractional precision. */
export interface ColumnType {
  name: string;
  /** PostgreSQL: pg_type.typname (`timestamp`, `timestamptz`, `int4`, ...); MySQL: DATA_TYPE (`datetime`, `int`, ...). */
  type: string;
  /** Fractional-second digits of a date-time column (PostgreSQL's unstated precision is 6), else null. */
  precision: number | null;
}

/** Types of the given columns of the table (those it has); throws TABLE_MISSING when it does not exist. */
export async function columnTypes(db: DbConnection, t: TableName, columns: readonly string[]): Promise<ColumnType[]> {
  await tableColumns(db, t);
  if (db.dialect.name === 'postgres') {
    const rows = await db.query<{ name: string; type: string; typmod: number }>(
      `SELECT a.attname AS name, ty.typname AS type, a.atttypmod AS typmod
         FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY($2::text[])
        ORDER BY a.attnum`,
      [pgRegclass(t), [...columns]],
    );
    const datetime = new Set(['timestamp', 'timestamptz', 'time', 'timetz']);
    return rows.map((r) => ({
      name: r.name,
      type: r.type,
      precision: datetime.has(r.type) ? (Number(r.typmod) >= 0 ? Number(r.typmod) : 6) : null,
    }));
  }
  const rows = await db.query<{ name: string; type: string; precision: unknown }>(
    `SELECT COLUMN_NAME AS name, LOWER(DATA_TYPE) AS type, DATETIME_PRECISION AS \`precision\`
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME IN (${columns.map(() => '?').join(', ')})
      ORDER BY ORDINAL_POSITION`,
    [t.schema, t.name, ...columns],
  );
  return rows.map((r) => ({ name: r.name, type: r.type, precision: r.precision === null ? null : Number(r.precision) }));
}
