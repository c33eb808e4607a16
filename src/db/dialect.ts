import type { ColumnDef } from '../opensips/releases.js';
import type { TableName } from './table.js';
import type { DialectName } from './url.js';

/**
 * Everything that differs in SQL text between PostgreSQL and MySQL/MariaDB. Queries are built only
 * in src/db/ from these pieces, so a dialect difference is fixed in one place.
 */
export interface Dialect {
  readonly name: DialectName;
  /** For messages: "PostgreSQL" or "MySQL/MariaDB". */
  readonly label: string;
  quoteIdent(name: string): string;
  /** Quoted, schema-qualified when the name has a schema. */
  table(t: TableName): string;
  /** A string literal. */
  literal(s: string): string;
  /** Placeholder for the i-th (1-based) bound parameter. */
  param(i: number): string;
  /** Column definition inside CREATE TABLE, as OpenSIPS's scripts/<db>/usrloc-create.sql writes it. */
  columnDefinition(col: ColumnDef, opts: { primaryKey: boolean }): string;
  /** Statements to run after CREATE TABLE (PostgreSQL: the sequence limit OpenSIPS sets). */
  afterCreate(t: TableName, cols: readonly ColumnDef[], opts: { primaryKey: boolean }): string[];
  /** Table options after the closing parenthesis of CREATE TABLE. */
  readonly tableOptions: string;
  /** DATETIME column as 'YYYY-MM-DD HH:MM:SS' text, never through a driver Date. */
  datetimeText(expr: string): string;
  /** Unsigned 64-bit value of a BIGINT expression shifted right and masked (bit fields of a contact id). */
  bitField(expr: string, shift: number, mask: number): string;
  /** A text expression compared byte by byte (no collation folding). */
  binaryText(expr: string): string;
  /** Upsert of the OpenSIPS `version` row. */
  versionUpsert(table: string, version: number): string;
  readonly versionTableDefinition: string;
}

function quoteWith(q: string) {
  return (name: string): string => `${q}${name.split(q).join(q + q)}${q}`;
}

const pgQuote = quoteWith('"');
const myQuote = quoteWith('`');

function sqlLiteral(s: string, backslashes: boolean): string {
  const body = s.replace(/'/g, "''");
  return `'${backslashes ? body.replace(/\\/g, '\\\\') : body}'`;
}

function defaultClause(col: ColumnDef): string {
  return col.default === undefined ? '' : ` DEFAULT ${col.default}`;
}

function nullClause(col: ColumnDef): string {
  return col.nullable ? '' : ' NOT NULL';
}

function sequenceName(t: TableName, column: string): string {
  return `${t.name}_${column}_seq`;
}

export const postgresDialect: Dialect = {
  name: 'postgres',
  label: 'PostgreSQL',
  quoteIdent: pgQuote,
  table: (t) => (t.schema ? `${pgQuote(t.schema)}.${pgQuote(t.name)}` : pgQuote(t.name)),
  // E'' (backslashes doubled) when the text holds a backslash: right whatever
  // standard_conforming_strings says.
  literal: (s) => (s.includes('\\') ? `E${sqlLiteral(s, true)}` : sqlLiteral(s, false)),
  param: (i) => `$${i}`,
  columnDefinition(col, { primaryKey }) {
    const name = pgQuote(col.name);
    switch (col.type.kind) {
      case 'serial-key': {
        const base = col.type.bits === 64 ? 'BIGINT' : 'INTEGER';
        return primaryKey
          ? `${name} ${col.type.bits === 64 ? 'BIGSERIAL' : 'SERIAL'} PRIMARY KEY NOT NULL`
          : `${name} ${base}${nullClause(col)}`;
      }
      case 'varchar':
        return `${name} VARCHAR(${col.type.length})${defaultClause(col)}${nullClause(col)}`;
      case 'text':
        return `${name} TEXT${defaultClause(col)}${nullClause(col)}`;
      case 'int':
        return `${name} INTEGER${defaultClause(col)}${nullClause(col)}`;
      case 'real':
        return `${name} REAL${defaultClause(col)}${nullClause(col)}`;
      case 'datetime':
        return `${name} TIMESTAMP WITHOUT TIME ZONE${defaultClause(col)}${nullClause(col)}`;
    }
  },
  afterCreate(t, cols, { primaryKey }) {
    if (!primaryKey) return [];
    // OpenSIPS: ALTER SEQUENCE location_contact_id_seq MAXVALUE 2147483647 CYCLE;
    return cols
      .filter((c) => c.type.kind === 'serial-key')
      .map((c) => {
        const seq = t.schema ? `${pgQuote(t.schema)}.${pgQuote(sequenceName(t, c.name))}` : pgQuote(sequenceName(t, c.name));
        return `ALTER SEQUENCE ${seq} MAXVALUE 2147483647 CYCLE`;
      });
  },
  tableOptions: '',
  datetimeText: (expr) => `to_char(${expr}, 'YYYY-MM-DD HH24:MI:SS')`,
  // >> on bigint is arithmetic, but bits 46..61 and 14..45 are the same as with a logical shift.
  bitField: (expr, shift, mask) => `((${expr} >> ${shift}) & ${mask})`,
  binaryText: (expr) => `(${expr} COLLATE "C")`,
  versionUpsert: (table, version) =>
    `INSERT INTO version (table_name, table_version) VALUES (${sqlLiteral(table, false)}, ${version}) ` +
    'ON CONFLICT (table_name) DO UPDATE SET table_version = EXCLUDED.table_version',
  versionTableDefinition:
    'CREATE TABLE IF NOT EXISTS version (table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL, ' +
    'CONSTRAINT version_t_name_idx UNIQUE (table_name))',
};

export const mysqlDialect: Dialect = {
  name: 'mysql',
  label: 'MySQL/MariaDB',
  quoteIdent: myQuote,
  table: (t) => (t.schema ? `${myQuote(t.schema)}.${myQuote(t.name)}` : myQuote(t.name)),
  literal: (s) => sqlLiteral(s, true),
  param: () => '?',
  columnDefinition(col, { primaryKey }) {
    const name = myQuote(col.name);
    switch (col.type.kind) {
      case 'serial-key': {
        const base = col.type.bits === 64 ? 'BIGINT(10) UNSIGNED' : 'INT(10) UNSIGNED';
        return primaryKey ? `${name} ${base} PRIMARY KEY AUTO_INCREMENT NOT NULL` : `${name} ${base}${nullClause(col)}`;
      }
      // OpenSIPS's MySQL scripts declare CHAR(n): MySQL strips trailing spaces on read, and so
      // OpenSIPS hashes the stripped value.
      case 'varchar':
        return `${name} CHAR(${col.type.length})${defaultClause(col)}${nullClause(col)}`;
      case 'text':
        return `${name} TEXT${defaultClause(col)}${nullClause(col)}`;
      case 'int':
        return `${name} INT(11)${defaultClause(col)}${nullClause(col)}`;
      case 'real':
        return `${name} FLOAT(10,2)${defaultClause(col)}${nullClause(col)}`;
      case 'datetime':
        return `${name} DATETIME${defaultClause(col)}${nullClause(col)}`;
    }
  },
  afterCreate: () => [],
  tableOptions: ' ENGINE=InnoDB',
  datetimeText: (expr) => `DATE_FORMAT(${expr}, '%Y-%m-%d %H:%i:%s')`,
  bitField: (expr, shift, mask) => `((${expr} >> ${shift}) & ${mask})`,
  binaryText: (expr) => `BINARY ${expr}`,
  versionUpsert: (table, version) =>
    `INSERT INTO version (table_name, table_version) VALUES (${sqlLiteral(table, true)}, ${version}) ` +
    'ON DUPLICATE KEY UPDATE table_version = VALUES(table_version)',
  versionTableDefinition:
    'CREATE TABLE IF NOT EXISTS version (table_name CHAR(32) NOT NULL, table_version INT UNSIGNED DEFAULT 0 NOT NULL, ' +
    'CONSTRAINT t_name_idx UNIQUE (table_name)) ENGINE=InnoDB',
};

export function dialectFor(name: DialectName): Dialect {
  return name === 'postgres' ? postgresDialect : mysqlDialect;
}
