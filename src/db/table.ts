import { UlbridgeError } from '../ops/errors.js';

/**
 * A table name as given with `--table`: `location`, or `schema.location` (PostgreSQL schema or
 * MySQL database). Plain identifiers only, so every dialect can quote them without surprises.
 */
export interface TableName {
  schema: string | null;
  name: string;
  /** As the operator wrote it, for messages. */
  display: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;

export function parseTableName(raw: string): TableName {
  const parts = raw.split('.');
  if (parts.length > 2 || parts.some((p) => !IDENT.test(p) || p.length > 63)) {
    throw new UlbridgeError(
      'BAD_TABLE_NAME',
      `--table "${raw}" is not a plain table name: use letters, digits and _ (at most 63 each), optionally schema.table`,
    );
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]!, display: raw } : { schema: null, name: parts[0]!, display: raw };
}
