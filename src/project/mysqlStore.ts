import mysql from 'mysql2/promise';
import { connectError, queryError } from '../db/errors.js';
import type { DbTarget } from '../db/url.js';
import { isUlbridgeError } from '../ops/errors.js';
import { applyBatch } from './apply.js';
import type { BatchInput, BatchResult } from './batch.js';
import { mysqlSession } from './mysqlSession.js';
import { boundUnresolvedOwnTx, ensureMysqlState, myIdent, MYSQL_SESSION_SETUP, type MysqlTargetShape } from './mysqlState.js';
import type { Target } from './target.js';
import { targetError, type TargetStore, type TargetStoreOptions } from './targetStore.js';

/**
 * mysql2 options of a MySQL/MariaDB target session: 64-bit values as decimal strings
 * (supportBigNumbers + bigNumberStrings), DATETIME as text (dateStrings), utf8mb4 so AOR bytes
 * arrive exactly, several statements per round trip (BEGIN with the offsets lock, the next offset
 * with COMMIT: every value in them is escaped by the applier), statements without values sent as
 * they are (sendAsWritten).
 */
export function mysqlSessionOptions(url: string): mysql.ConnectionOptions {
  return {
    uri: url,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    charset: 'utf8mb4',
    timezone: 'Z',
    multipleStatements: true,
    connectTimeout: 10_000,
    queryFormat: sendAsWritten,
  };
}

/**
 * mysql2's query formatting, except that a statement without values is not scanned for `?`
 * placeholders: mysql2 formats every query, with an empty list when it has no values, and that
 * scan of the applier's statements of literals (up to 1 MiB each) was 8% of `ulbridge run`'s main
 * thread in a MariaDB first load (docs/performance.md).
 */
export function sendAsWritten(sql: string, values: unknown, timezone?: string): string {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql;
  return mysql.format(sql, values as Parameters<typeof mysql.format>[1], false, timezone ?? 'Z');
}

/** Runs MYSQL_SESSION_SETUP (UTC session zone, strict sql_mode, READ COMMITTED) on a new session. */
export async function prepareMysqlSession(conn: mysql.Connection): Promise<void> {
  for (const sql of MYSQL_SESSION_SETUP) await conn.query(sql);
}

/** ensureMysqlState, its failures reported as the target's. */
export async function ensureMysqlStateOf(target: Target, db: DbTarget, conn: mysql.Connection): Promise<MysqlTargetShape> {
  try {
    return await ensureMysqlState(conn, target);
  } catch (e) {
    if (isUlbridgeError(e)) throw e;
    throw targetError(target, queryError(db, `creating the state database "${target.stateSchema}"`, e));
  }
}

export interface MysqlTargetStore extends TargetStore {
  readonly dialect: 'mysql';
  readonly pool: mysql.Pool;
}

/** A mysql2 pool on a target whose sessions are set up (MYSQL_SESSION_SETUP) before their first use. */
export interface MysqlTargetPool {
  readonly pool: mysql.Pool;
  /**
   * Runs `fn` on a pooled session: released after, destroyed when `fn` throws (the session may be
   * half-broken, or hold an open transaction). Connection and setup failures are target errors.
   */
  withConnection<T>(fn: (conn: mysql.PoolConnection) => Promise<T>): Promise<T>;
}

export function mysqlTargetPool(target: Target, db: DbTarget, poolSize: number): MysqlTargetPool {
  const pool = mysql.createPool({ ...mysqlSessionOptions(db.url), connectionLimit: poolSize, enableKeepAlive: true });
  // Sessions that ran MYSQL_SESSION_SETUP (keyed by the pooled connection, not its promise wrapper).
  const prepared = new WeakSet<object>();

  async function acquire(): Promise<mysql.PoolConnection> {
    let conn: mysql.PoolConnection;
    try {
      conn = await pool.getConnection();
    } catch (e) {
      throw targetError(target, connectError(db, e));
    }
    if (!prepared.has(conn.connection)) {
      try {
        await prepareMysqlSession(conn);
      } catch (e) {
        conn.destroy();
        throw targetError(target, queryError(db, 'setting up the session', e));
      }
      prepared.add(conn.connection);
    }
    return conn;
  }

  return {
    pool,
    async withConnection(fn) {
      const conn = await acquire();
      let ok = false;
      try {
        const result = await fn(conn);
        ok = true;
        return result;
      } finally {
        if (ok) conn.release();
        else conn.destroy();
      }
    },
  };
}

/** The MySQL/MariaDB store: a mysql2 pool, the state database of mysqlState.ts, the applier on a MySQL session. */
export function createMysqlTargetStore(target: Target, db: DbTarget, opts: TargetStoreOptions): MysqlTargetStore {
  const { pool, withConnection } = mysqlTargetPool(target, db, opts.poolSize);
  // Sessions of a shared target that gave markers left without GTID their ceiling (mysqlState.ts).
  const bounded = new WeakSet<object>();
  let shape: MysqlTargetShape | null = null;

  return {
    target,
    dialect: 'mysql',
    pool,
    async ensureState() {
      shape = await withConnection((conn) => ensureMysqlStateOf(target, db, conn));
    },
    async storedOffsets(topic, partitions) {
      const map = new Map<number, string>();
      if (partitions.length === 0) return map;
      if (!partitions.every(Number.isInteger)) throw new Error(`partitions must be integers: ${partitions.join(',')}`);
      const [rows] = await withConnection((conn) =>
        conn.query(
          `SELECT \`partition\` AS p, CAST(next_offset AS CHAR) AS n FROM ${myIdent(target.stateSchema)}.offsets WHERE topic = ? AND \`partition\` IN (${partitions.join(', ')})`,
          [topic],
        ),
      );
      for (const r of rows as Array<{ p: number; n: string }>) map.set(Number(r.p), String(r.n));
      return map;
    },
    applyBatch: (batch: BatchInput): Promise<BatchResult> =>
      withConnection(async (conn) => {
        if (target.shared && shape && !bounded.has(conn.connection)) {
          await boundUnresolvedOwnTx(conn, target, shape.flavor);
          bounded.add(conn.connection);
        }
        return applyBatch(mysqlSession(conn, target, shape ? { charAorColumns: shape.charAorColumns, flavor: shape.flavor } : {}), batch);
      }),
    async close() {
      await pool.end();
    },
  };
}
