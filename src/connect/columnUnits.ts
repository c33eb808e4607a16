import type { ColumnType } from '../db/inspect.js';
import type { DialectName } from '../db/url.js';

/**
 * Without value schemas (the default, docs/decisions.md "Debezium values without schemas") a
 * DATETIME column arrives as a bare integer, and the ingest takes it in the unit Debezium's default
 * `time.precision.mode=adaptive` gives the column types OpenSIPS creates: PostgreSQL `timestamp`
 * (precision 6) in microseconds, MySQL/MariaDB `DATETIME` (precision 0) in milliseconds
 * (src/cdc/time.ts). Adaptive mode follows the column's precision, so a table altered to
 * `timestamp(3)` or `DATETIME(6)` would be read 1000x off, silently. `ulbridge connect apply`
 * checks the table before it creates a schemaless connector.
 */

/** The DATETIME columns the decoders read: `last_modified` in every release, `expires` up to 2.3. */
export const DATETIME_COLUMNS: readonly string[] = ['expires', 'last_modified'];

/** Why a column's values would be misread without value schemas, or null when they would not. */
export function schemalessUnitProblem(dialect: DialectName, c: ColumnType): string | null {
  if (dialect === 'postgres' && c.type === 'timestamp' && c.precision !== null && c.precision <= 3) {
    return `column ${c.name} is timestamp(${c.precision}): Debezium sends it in milliseconds, and values without schemas are read as a PostgreSQL timestamp's microseconds (timestamp(4) to timestamp(6))`;
  }
  if (dialect === 'mysql' && c.type === 'datetime' && c.precision !== null && c.precision > 3) {
    return `column ${c.name} is DATETIME(${c.precision}): Debezium sends it in microseconds, and values without schemas are read as a DATETIME's milliseconds (DATETIME to DATETIME(3))`;
  }
  return null;
}
