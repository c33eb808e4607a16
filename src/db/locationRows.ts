import type { ReleaseProfile } from '../opensips/releases.js';
import { UlbridgeError } from '../ops/errors.js';
import type { DbConnection } from './connection.js';
import type { Dialect } from './dialect.js';
import { tableColumns } from './inspect.js';
import type { TableName } from './table.js';

/**
 * One row of a usrloc location table as preload reads it, typed the same on every dialect.
 * Columns OpenSIPS reads but never checks at preload (cflags, user_agent, methods, last_modified,
 * sip_instance, attr) are left out so a scan moves as few bytes as possible.
 */
export interface LocationRow {
  contactId: bigint | null;
  username: string | null;
  domain: string | null;
  contact: string | null;
  received: string | null;
  path: string | null;
  /**
   * 2.4+ (`unix` profiles): INTEGER unix seconds. 2.2/2.3 (`datetime` profiles): the DATETIME as
   * 'YYYY-MM-DD HH:MM:SS' text in the registrar's local time, exactly as stored.
   */
  expires: number | string | null;
  q: number | null;
  callid: string | null;
  cseq: number | null;
  flags: number | null;
  socket: string | null;
  /** 2.4+ only; always null for releases without the column. */
  kvStore: string | null;
}

/** Columns a release's preload needs; missing ones make OpenSIPS's SELECT fail. */
export function requiredColumns(profile: ReleaseProfile): string[] {
  return profile.columns.map((c) => c.name);
}

/** Checks the table exists (TABLE_MISSING) and has every column of the release (TABLE_SHAPE). */
export async function checkLocationTable(db: DbConnection, t: TableName, profile: ReleaseProfile): Promise<void> {
  const present = new Set((await tableColumns(db, t)).map((c) => c.toLowerCase()));
  const missing = requiredColumns(profile).filter((c) => !present.has(c));
  if (missing.length === 0) return;
  let hint = '';
  if (missing.includes('contact_id') && present.has('id'))
    hint = ': it looks like a 2.1 table (key `id`, version 1009), which has no contact ids';
  else if (missing.includes('kv_store')) hint = ': it looks like a 2.2/2.3 table (version 1011); pick --release 2.2 or 2.3';
  throw new UlbridgeError(
    'TABLE_SHAPE',
    `table "${t.display}" lacks column(s) ${missing.join(', ')} that OpenSIPS ${profile.name} reads at preload${hint}`,
  );
}

/** SELECT list giving LocationRow property names; the key column is always contact_id here. */
export function locationSelectList(dialect: Dialect, profile: ReleaseProfile, alias = ''): string {
  const c = (name: string): string => `${alias}${dialect.quoteIdent(name)}`;
  const as = (expr: string, name: string): string => `${expr} AS ${dialect.quoteIdent(name)}`;
  const expires = profile.expires === 'datetime' ? dialect.datetimeText(c('expires')) : c('expires');
  return [
    as(c('contact_id'), 'contactId'),
    as(c('username'), 'username'),
    as(c('domain'), 'domain'),
    as(c('contact'), 'contact'),
    as(c('received'), 'received'),
    as(c('path'), 'path'),
    as(expires, 'expires'),
    as(c('q'), 'q'),
    as(c('callid'), 'callid'),
    as(c('cseq'), 'cseq'),
    as(c('flags'), 'flags'),
    as(c('socket'), 'socket'),
    as(profile.hasKvStore ? c('kv_store') : 'NULL', 'kvStore'),
  ].join(', ');
}

/** The full-table scan preload does: every row, no WHERE, no ORDER BY. */
export function locationScanSql(dialect: Dialect, profile: ReleaseProfile, t: TableName): string {
  return `SELECT ${locationSelectList(dialect, profile)} FROM ${dialect.table(t)}`;
}

/**
 * MySQL hands BIGINT over as a decimal string (bigNumberStrings); make it the bigint the row type
 * promises. PostgreSQL rows already carry bigint (int8 parser of the connection).
 */
export function normalizeRows(dialect: Dialect, rows: LocationRow[]): LocationRow[] {
  if (dialect.name === 'mysql') {
    for (const r of rows) {
      const id = r.contactId as unknown;
      if (typeof id === 'string' || typeof id === 'number') r.contactId = BigInt(id);
    }
  }
  return rows;
}

/** Streams rows of any query built from locationSelectList, in batches. */
export async function* streamLocationRows(
  db: DbConnection,
  sql: string,
  params: readonly unknown[],
  batchSize: number,
): AsyncIterable<LocationRow[]> {
  for await (const batch of db.stream<LocationRow>(sql, params, batchSize)) yield normalizeRows(db.dialect, batch);
}

/** Every row of the table, as preload reads it, in batches of `batchSize` (flat memory). */
export function readLocationRows(
  db: DbConnection,
  t: TableName,
  profile: ReleaseProfile,
  batchSize = 10_000,
): AsyncIterable<LocationRow[]> {
  return streamLocationRows(db, locationScanSql(db.dialect, profile, t), [], batchSize);
}
