import { UlbridgeError } from '../ops/errors.js';
import type { TableName } from './table.js';
import { redactUrl, type DbTarget } from './url.js';

/**
 * Driver errors (pg, mysql2) turned into coded one-line errors that say what to fix.
 * Codes: DB_UNREACHABLE, DB_AUTH_FAILED, DB_NOT_FOUND, TABLE_MISSING, DB_QUERY_FAILED.
 */

interface DriverError {
  code?: string; // PG SQLSTATE, mysql2 'ER_*', or a Node errno name
  errno?: number;
  message?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
]);

function label(target: DbTarget): string {
  return `${target.dialect === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} at ${target.host}:${target.port}`;
}

function detail(e: unknown): DriverError {
  if (e && typeof e === 'object') return e;
  return { message: String(e) };
}

/** Error raised while connecting. */
export function connectError(target: DbTarget, e: unknown): UlbridgeError {
  const d = detail(e);
  const msg = redactUrl(d.message ?? String(e));
  const opts = { cause: e };
  if ((d.code && NETWORK_CODES.has(d.code)) || /timeout|terminated unexpectedly/i.test(msg)) {
    const why = d.code && NETWORK_CODES.has(d.code) ? d.code : 'connection timed out';
    return new UlbridgeError(
      'DB_UNREACHABLE',
      `cannot connect to ${label(target)} (${why}): check that the server is running and that --db names the right host and port`,
      2,
      opts,
    );
  }
  if (d.code === '28P01' || d.code === '28000' || d.code === 'ER_ACCESS_DENIED_ERROR' || d.code === 'ER_DBACCESS_DENIED_ERROR') {
    return new UlbridgeError(
      'DB_AUTH_FAILED',
      `${label(target)} refused user "${target.user}" (${msg}): check the user and password in --db and the server's access rules`,
      2,
      opts,
    );
  }
  if (d.code === '3D000' || d.code === 'ER_BAD_DB_ERROR') {
    return new UlbridgeError(
      'DB_NOT_FOUND',
      `database "${target.database}" does not exist on ${label(target)}: check the database name in --db`,
      2,
      opts,
    );
  }
  return new UlbridgeError('DB_UNREACHABLE', `cannot connect to ${label(target)} (${msg}): check --db`, 2, opts);
}

export function tableMissing(target: DbTarget, table: TableName): UlbridgeError {
  return new UlbridgeError(
    'TABLE_MISSING',
    `table "${table.display}" does not exist in database "${target.database}" on ${label(target)}: check --table ` +
      '(usrloc uses the table named in save(), "location" by default)',
  );
}

/** Error raised by a statement after connecting. */
export function queryError(target: DbTarget, what: string, e: unknown, table?: TableName): UlbridgeError {
  const d = detail(e);
  if (table && (d.code === '42P01' || d.code === 'ER_NO_SUCH_TABLE')) return tableMissing(target, table);
  if (d.code && NETWORK_CODES.has(d.code)) return connectError(target, e);
  const msg = redactUrl(d.message ?? String(e));
  return new UlbridgeError('DB_QUERY_FAILED', `${what} failed on ${label(target)}: ${msg}`, 2, { cause: e });
}
