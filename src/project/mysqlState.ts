import { createHash } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import type { DbConnection } from '../db/connection.js';
import { mysqlDialect } from '../db/dialect.js';
import { parseTableName, type TableName } from '../db/table.js';
import { UlbridgeError } from '../ops/errors.js';
import { FIRST_RLABEL } from './stateSchema.js';
import type { Target } from './target.js';

/**
 * ulbridge's state for one MySQL/MariaDB target: a database of its own (named by the target's
 * stateSchema) on the target's server, beside the location table, so rows, labels, binding
 * positions and offsets commit in one InnoDB transaction. Same tables as the PostgreSQL schema
 * (src/project/stateSchema.ts), with these differences:
 *
 * - Record labels: `aors.rlabel` is an AUTO_INCREMENT column starting at FIRST_RLABEL (131072).
 *   MariaDB 10.3+ has CREATE SEQUENCE, MySQL has none; a counter row (`UPDATE ... SET n = n + k`)
 *   would hold its row lock until COMMIT and so serialise every partition of the target on it.
 *   InnoDB hands out AUTO_INCREMENT values under a mutex held for the INSERT statement only (never
 *   the transaction), values are never handed out twice, and a rolled-back insert just leaves a
 *   gap. The label is the AOR row's own column, so the applier reads each new AOR's label back by
 *   its key: nothing depends on the values of one statement being consecutive (they need not be
 *   with innodb_autoinc_lock_mode=2 or a Galera auto_increment_increment). INT UNSIGNED is exactly
 *   the 32-bit rlabel range. One UNIQUE (rlabel) makes labels unique across the whole target, which
 *   is stronger than PostgreSQL's UNIQUE (slot, rlabel), and the design anyway.
 * - Keys (binding, aor) are VARBINARY: compared byte by byte, no collation folding and no PAD
 *   SPACE ('a' = 'a ' in MySQL's string collations). At most 767 bytes, so they are indexable with
 *   any InnoDB row format.
 * - updated_at is DATETIME(3) in UTC (written as UTC_TIMESTAMP(3)): no session time zone is
 *   involved in writing or reading it.
 * - No foreign key from bindings.aor to aors: InnoDB would add an index on bindings.aor (one more
 *   index write per binding) and a shared lock on the AOR row per binding written; the applier
 *   writes both tables in the same transaction anyway.
 */

/** Quotes a MySQL identifier. */
export const myIdent = mysqlDialect.quoteIdent;

/** The target's location table, quoted (`location` or `db`.`location`). */
export function myTable(target: Target): string {
  return mysqlDialect.table(parseTableName(target.table));
}

/** Longest database name MySQL accepts. */
const MAX_DATABASE_NAME = 64;

export function mysqlStateSql(schema: string): string[] {
  const s = myIdent(schema);
  return [
    `CREATE DATABASE IF NOT EXISTS ${s} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    `CREATE TABLE IF NOT EXISTS ${s}.aors (
       aor VARBINARY(767) NOT NULL PRIMARY KEY,
       aorhash INT NOT NULL,
       slot INT NOT NULL,
       -- the record label allocator: see src/project/mysqlState.ts
       rlabel INT UNSIGNED NOT NULL AUTO_INCREMENT,
       next_clabel INT NOT NULL,
       -- true once next_clabel wrapped past 16383: only then can a new label meet a live one
       wrapped BOOLEAN NOT NULL DEFAULT FALSE,
       UNIQUE KEY aors_rlabel (rlabel)
     ) ENGINE=InnoDB AUTO_INCREMENT=${FIRST_RLABEL}`,
    `CREATE TABLE IF NOT EXISTS ${s}.bindings (
       binding VARBINARY(255) NOT NULL PRIMARY KEY,
       source_name VARBINARY(255) NOT NULL,
       source_row_key BIGINT NOT NULL,
       log_partition INT NOT NULL,
       aor VARBINARY(767) NULL,
       clabel INT NULL,
       contact_id BIGINT UNSIGNED NULL,
       in_target BOOLEAN NOT NULL,
       pos_major BIGINT NOT NULL,
       pos_minor BIGINT NOT NULL,
       pos_seq BIGINT NOT NULL,
       updated_at DATETIME(3) NOT NULL,
       UNIQUE KEY bindings_contact_id (contact_id)
     ) ENGINE=InnoDB`,
    // Shared targets (a reverse sync reads the table): the projection's own transactions, so
    // reverse sync never copies their change events back, and the registrar rows reverse sync
    // copied into the legacy table, so the projection adopts them. own_tx cannot hold PostgreSQL's
    // xid: a MySQL/MariaDB change event names its transaction by GTID, which the server assigns at
    // COMMIT. So each apply transaction writes a marker row (its server, the GTID position before
    // it: the fence), and the statement after COMMIT, in the same round trip, fills in the GTID
    // (docs/decisions.md, "Own writes on MySQL/MariaDB targets"; src/reverse/ownWrites.ts).
    `CREATE TABLE IF NOT EXISTS ${s}.own_tx (
       seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
       server_id BIGINT UNSIGNED NOT NULL,
       -- the server's GTID position read inside the transaction after its writes (MariaDB
       -- @@gtid_binlog_pos, MySQL @@GLOBAL.gtid_executed): it covers every transaction that
       -- committed before, never this one
       fence TEXT NOT NULL,
       -- the transaction's own GTID (MariaDB d-s-n, MySQL uuid:n), set by the statement after
       -- COMMIT; NULL only if the server crashed in between
       gtid VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
       -- for a marker left without its GTID: a GTID position read later, which covers it
       ceiling TEXT NULL,
       committed_at DATETIME(3) NOT NULL,
       UNIQUE KEY own_tx_gtid (gtid),
       KEY own_tx_committed_at (committed_at)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${s}.links (
       contact_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
       binding VARBINARY(255) NOT NULL,
       legacy_id BIGINT NOT NULL,
       -- the session's time (UTC in ulbridge's sessions); informational
       created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
       UNIQUE KEY links_binding (binding)
     ) ENGINE=InnoDB`,
    // Reverse sync into a 2.2+ legacy table: the legacy registrar's record labels (src/reverse/labels.ts),
    // AUTO_INCREMENT from FIRST_RLABEL like aors.rlabel (src/reverse/mysqlTarget.ts).
    `CREATE TABLE IF NOT EXISTS ${s}.legacy_aors (
       aor VARBINARY(767) NOT NULL PRIMARY KEY,
       aorhash INT NOT NULL,
       slot INT NOT NULL,
       rlabel INT UNSIGNED NOT NULL AUTO_INCREMENT,
       next_clabel INT NOT NULL,
       wrapped BOOLEAN NOT NULL DEFAULT FALSE,
       UNIQUE KEY legacy_aors_rlabel (rlabel)
     ) ENGINE=InnoDB AUTO_INCREMENT=${FIRST_RLABEL}`,
    `CREATE TABLE IF NOT EXISTS ${s}.offsets (
       topic VARCHAR(249) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
       \`partition\` INT NOT NULL,
       next_offset BIGINT NOT NULL,
       updated_at DATETIME(3) NOT NULL,
       PRIMARY KEY (topic, \`partition\`)
     ) ENGINE=InnoDB`,
  ];
}

/**
 * Session settings every connection of a MySQL target store runs once, before its first use:
 * - time_zone UTC: DATETIME columns are never converted by the server whatever the zone (values go
 *   as 'YYYY-MM-DD HH:MM:SS' text in the target registrar's zone, see targetRow.ts), and nothing
 *   ulbridge writes depends on the server's SYSTEM zone;
 * - sql_mode: STRICT_TRANS_TABLES, so a value that does not fit is an error rather than silently
 *   truncated; NO_BACKSLASH_ESCAPES removed, because string literals are escaped with backslashes;
 * - READ COMMITTED: InnoDB then takes no gap locks for reads, so transactions of different log
 *   partitions inserting new AORs or contacts do not block each other on gaps (REPEATABLE READ's
 *   gap locks on absent keys make such inserts wait and deadlock). PostgreSQL's default, too.
 */
export const MYSQL_SESSION_SETUP: readonly string[] = [
  "SET SESSION time_zone = '+00:00', " +
    "sql_mode = CONCAT_WS(',', 'STRICT_TRANS_TABLES', NULLIF(TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','), ',STRICT_TRANS_TABLES,', ',')), ''))",
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
];

type Row = Record<string, unknown>;

async function rows(conn: Connection, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [r] = await conn.query(sql, params);
  return r as Row[];
}

/** What the applier needs to know about the target table. */
export interface MysqlTargetShape {
  /** username / domain are CHAR (OpenSIPS's schema): MySQL returns them without trailing spaces. */
  charAorColumns: { username: boolean; domain: boolean };
  /** MariaDB or MySQL: how a shared target's apply transaction learns its own GTID (mysqlSession.ts). */
  flavor: MysqlFlavor;
}

export type MysqlFlavor = 'mariadb' | 'mysql';

/** The server's GTID position as SQL: everything committed so far (see own_tx.fence). */
export function gtidPositionSql(flavor: MysqlFlavor): string {
  return flavor === 'mariadb' ? '@@GLOBAL.gtid_binlog_pos' : '@@GLOBAL.gtid_executed';
}

/**
 * Gives every own_tx marker left without its GTID (the server crashed between the COMMIT and the
 * statement after it, or that statement failed) a ceiling: the server's GTID position now. The
 * marker is visible, so its transaction committed and is covered by it (src/reverse/ownWrites.ts
 * uses fence and ceiling to bound which change events it can be). Run on every new session of a
 * shared target, before its first apply; harmless for a marker whose GTID is about to be set.
 */
export async function boundUnresolvedOwnTx(conn: Connection, target: Target, flavor: MysqlFlavor): Promise<void> {
  await conn.query(
    `UPDATE ${myIdent(target.stateSchema)}.own_tx SET ceiling = ${gtidPositionSql(flavor)} WHERE gtid IS NULL AND ceiling IS NULL`,
  );
}

/**
 * Checks that the target can hold ulbridge's transaction, then creates the state database and
 * tables. Safe to run concurrently from several instances (GET_LOCK around the creation).
 */
export async function ensureMysqlState(conn: Connection, target: Target): Promise<MysqlTargetShape> {
  const schema = target.stateSchema;
  if (schema.length > MAX_DATABASE_NAME) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `target "${target.name}": state database name "${schema}" is longer than ${MAX_DATABASE_NAME} characters: set targets[].stateSchema`,
    );
  }
  const table: TableName = parseTableName(target.table);
  const [info] = await rows(
    conn,
    'SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
    [table.schema, table.name],
  );
  if (!info)
    throw new UlbridgeError(
      'TABLE_MISSING',
      `target "${target.name}": table "${table.display}" does not exist: create it with OpenSIPS's usrloc-create.sql for release ${target.release}, or fix targets[].table`,
    );
  const engine = String(info.engine ?? '');
  if (engine.toLowerCase() !== 'innodb') {
    throw new UlbridgeError(
      'TARGET_UNSUPPORTED',
      `target "${target.name}": table "${table.display}" uses the ${engine || 'unknown'} engine; ulbridge commits rows, labels and offsets in one transaction, which needs InnoDB: ALTER TABLE ${table.display} ENGINE=InnoDB`,
    );
  }
  const types = new Map(
    (
      await rows(
        conn,
        "SELECT COLUMN_NAME AS c, DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME IN ('username', 'domain')",
        [table.schema, table.name],
      )
    ).map((r) => [String(r.c).toLowerCase(), String(r.t).toLowerCase()]),
  );
  const [binlog] = await rows(conn, 'SELECT @@log_bin AS on_, @@SESSION.binlog_format AS fmt, VERSION() AS v');
  const shape: MysqlTargetShape = {
    charAorColumns: { username: types.get('username') === 'char', domain: types.get('domain') === 'char' },
    flavor: /mariadb/i.test(String(binlog?.v)) ? 'mariadb' : 'mysql',
  };
  if (Number(binlog?.on_) === 1 && String(binlog?.fmt).toUpperCase() === 'STATEMENT') {
    throw new UlbridgeError(
      'TARGET_UNSUPPORTED',
      `target "${target.name}": the server logs binlog_format=STATEMENT, under which InnoDB refuses writes at READ COMMITTED (ulbridge's isolation level): set binlog_format=ROW or MIXED`,
    );
  }
  if (target.shared) {
    // Reverse sync reads the table's binlog, and tells ulbridge's own transactions by their GTID.
    if (Number(binlog?.on_) !== 1) {
      throw new UlbridgeError(
        'TARGET_UNSUPPORTED',
        `target "${target.name}": a reverse sync reads this table, but the server writes no binlog: start it with log_bin (and binlog_format=ROW)`,
      );
    }
    if (shape.flavor === 'mysql') {
      const [g] = await rows(conn, 'SELECT @@GLOBAL.gtid_mode AS m');
      if (String(g?.m).toUpperCase() !== 'ON') {
        throw new UlbridgeError(
          'TARGET_UNSUPPORTED',
          `target "${target.name}": a reverse sync reads this table and tells ulbridge's own transactions by GTID, but the server runs gtid_mode=${String(g?.m)}: set gtid_mode=ON and enforce_gtid_consistency=ON`,
        );
      }
    }
  }
  // GET_LOCK names are at most 64 characters: hash the schema name.
  const lockName = `ulbridge-state:${createHash('sha1').update(schema).digest('hex')}`;
  const [got] = await rows(conn, 'SELECT GET_LOCK(?, 60) AS ok', [lockName]);
  if (Number(got?.ok) !== 1)
    throw new UlbridgeError('DB_QUERY_FAILED', `target "${target.name}": another instance held the state creation lock for 60 s`);
  try {
    for (const sql of mysqlStateSql(schema)) await conn.query(sql);
    // MySQL before 8.0 (and MariaDB before 10.2.4) reset an empty table's AUTO_INCREMENT to 1 on
    // restart; while aors is empty, put it back (a no-op otherwise, never below MAX+1).
    const [any] = await rows(conn, `SELECT 1 AS x FROM ${myIdent(schema)}.aors LIMIT 1`);
    if (!any) await conn.query(`ALTER TABLE ${myIdent(schema)}.aors AUTO_INCREMENT = ${FIRST_RLABEL}`);
    const [anyLegacy] = await rows(conn, `SELECT 1 AS x FROM ${myIdent(schema)}.legacy_aors LIMIT 1`);
    if (!anyLegacy) await conn.query(`ALTER TABLE ${myIdent(schema)}.legacy_aors AUTO_INCREMENT = ${FIRST_RLABEL}`);
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
  }
  return shape;
}

export interface StoredPositions {
  started: boolean;
  next: Map<number, string>;
  lastAppliedMs: number | null;
}

/** `offsets` of a MySQL state database, as `ulbridge status` reports them. */
export async function mysqlStoredPositions(db: DbConnection, schema: string, topic: string): Promise<StoredPositions> {
  const [exists] = await db.query<{ n: string | number }>(
    "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'offsets'",
    [schema],
  );
  if (!exists || Number(exists.n) === 0) return { started: false, next: new Map(), lastAppliedMs: null };
  // updated_at is UTC DATETIME: milliseconds since the epoch by DATETIME arithmetic, no zone involved.
  const rs = await db.query<{ p: number; n: string; t: string | number | null }>(
    `SELECT \`partition\` AS p, CAST(next_offset AS CHAR) AS n, TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', updated_at) DIV 1000 AS t
       FROM ${myIdent(schema)}.offsets WHERE topic = ?`,
    [topic],
  );
  let last: number | null = null;
  for (const r of rs) {
    const t = r.t === null ? null : Number(r.t);
    if (t !== null && (last === null || t > last)) last = t;
  }
  return { started: true, next: new Map(rs.map((r) => [Number(r.p), String(r.n)])), lastAppliedMs: last };
}
