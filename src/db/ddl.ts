import type { ReleaseProfile } from '../opensips/releases.js';
import type { Dialect } from './dialect.js';
import { parseTableName, type TableName } from './table.js';

/**
 * DDL rendered from a release profile, matching OpenSIPS's scripts/<db>/usrloc-create.sql for that
 * release (column order, types, defaults, NULL-ability, key). Used by tests, the bench and the
 * bridge's target set-up.
 */

export interface LocationDdlOptions {
  /**
   * false renders the key column as a plain nullable-as-declared BIGINT/INT without PRIMARY KEY or
   * auto-increment: a hand-made copy of the table (staging tables, or tables where duplicate ids
   * must be representable).
   */
  primaryKey?: boolean;
}

/** CREATE TABLE (plus, on PostgreSQL, the ALTER SEQUENCE OpenSIPS runs). One statement per entry. */
export function createLocationTableSql(
  profile: ReleaseProfile,
  dialect: Dialect,
  table: string | TableName,
  opts: LocationDdlOptions = {},
): string[] {
  const t = typeof table === 'string' ? parseTableName(table) : table;
  const primaryKey = opts.primaryKey ?? true;
  const cols = profile.columns.map((c) => `    ${dialect.columnDefinition(c, { primaryKey })}`);
  return [
    `CREATE TABLE ${dialect.table(t)} (\n${cols.join(',\n')}\n)${dialect.tableOptions}`,
    ...dialect.afterCreate(t, profile.columns, { primaryKey }),
  ];
}

/** The OpenSIPS `version` table (table_name VARCHAR(32) unique, table_version INT). */
export function versionTableSql(dialect: Dialect): string {
  return dialect.versionTableDefinition;
}

/** The `version` row OpenSIPS checks for this table: table_name = the bare table name. */
export function versionRowSql(profile: ReleaseProfile, dialect: Dialect, table: string | TableName): string {
  const t = typeof table === 'string' ? parseTableName(table) : table;
  return dialect.versionUpsert(t.name, profile.tableVersion);
}
