import type { DbConnection } from '../db/connection.js';
import { hasUniqueIndexOn, estimateRowCount, readTableVersion, type VersionRow } from '../db/inspect.js';
import {
  duplicateContactIdKeysSql,
  duplicateContactIdRowsSql,
  sharedRecordLabelKeysSql,
  sharedRecordLabelRowsSql,
} from '../db/labelGroups.js';
import { checkLocationTable, readLocationRows, streamLocationRows, type LocationRow } from '../db/locationRows.js';
import { openDb } from '../db/open.js';
import { beginSharedSnapshot, endSnapshot, joinSharedSnapshot } from '../db/snapshot.js';
import { parseTableName, type TableName } from '../db/table.js';
import { parseDbUrl } from '../db/url.js';
import type { CharSignedness } from '../opensips/coreHash.js';
import { slotCount } from '../opensips/hashSize.js';
import type { ReleaseProfile } from '../opensips/releases.js';
import { checkTimeZone, expiryRule } from './expiry.js';
import { findDuplicateIds, findSharedLabels, type DuplicateIds, type SharedLabels } from './groups.js';
import { verifyProfile } from './release.js';
import { buildReport, type VerifyReport } from './report.js';
import { PreloadSimulator } from './simulator.js';
import { VerifyTally } from './tally.js';

export interface VerifyOptions {
  db: string;
  table: string;
  release: string;
  hashSize: number;
  useDomain: boolean;
  signedness: CharSignedness;
  /** IANA zone of the registrar host, for DATETIME `expires` (2.2/2.3). */
  timezone: string;
  /** Unix seconds at which "expired" is judged. */
  now: number;
  /** Example rows per reason (0 = none). */
  details: number;
  /** Rows per cursor fetch. */
  batchSize: number;
}

/** Progress callbacks (the CLI draws a bar on a TTY; nothing is logged otherwise). */
export interface VerifyProgress {
  start(estimatedRows: number | null): void;
  rows(n: number): void;
  stop(): void;
}

export interface VerifyContext {
  profile: ReleaseProfile;
  table: TableName;
  slots: number;
  version: VersionRow;
  uniqueIds: boolean;
}

function simulator(o: VerifyOptions, profile: ReleaseProfile, table: TableName): PreloadSimulator {
  return new PreloadSimulator({
    profile,
    hashSize: o.hashSize,
    slots: slotCount(o.hashSize),
    useDomain: o.useDomain,
    signedness: o.signedness,
    tableName: table.name,
  });
}

/** Keys per step-2 query (see src/db/labelGroups.ts): one SQL IN list of at most this many numbers. */
const KEYS_PER_QUERY = 50_000;

/** Step-1 keys, held compactly: their number is bounded by the findings, not by the table. */
async function collectKeys<K>(db: DbConnection, sql: string, batchSize: number, convert: (raw: unknown) => K): Promise<K[]> {
  const keys: K[] = [];
  for await (const batch of db.stream<{ k: unknown }>(sql, [], batchSize)) for (const r of batch) keys.push(convert(r.k));
  return keys;
}

/** Step 2: the rows of all keys, chunk after chunk; each key's rows come from one query. */
async function* rowsOfKeys<K>(
  db: DbConnection,
  keys: K[],
  sqlFor: (chunk: K[]) => string,
  batchSize: number,
): AsyncIterable<LocationRow[]> {
  for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
    yield* streamLocationRows(db, sqlFor(keys.slice(i, i + KEYS_PER_QUERY)), [], batchSize);
  }
}

/**
 * Duplicate ids and ambiguous record labels, on a second session that shares the scan's snapshot
 * and runs concurrently with it: the database aggregates while this process simulates.
 * Duplicates are skipped when a unique index on contact_id (the schema's primary key) rules
 * them out.
 */
async function crossRowChecks(
  db: DbConnection,
  o: VerifyOptions,
  ctx: VerifyContext,
): Promise<{ duplicates: DuplicateIds; labels: SharedLabels }> {
  const sim = simulator(o, ctx.profile, ctx.table);
  const d = db.dialect;
  let duplicates: DuplicateIds = { ids: 0, rows: 0, examples: [] };
  if (!ctx.uniqueIds) {
    const ids = await collectKeys(db, duplicateContactIdKeysSql(d, ctx.table), o.batchSize, (k) => BigInt(k as string | bigint));
    const rows = rowsOfKeys(db, ids, (chunk) => duplicateContactIdRowsSql(d, ctx.profile, ctx.table, chunk), o.batchSize);
    duplicates = await findDuplicateIds(rows, sim, o.details);
  }
  const keysSql = sharedRecordLabelKeysSql(d, ctx.table, { slots: ctx.slots, useDomain: o.useDomain });
  const keys = await collectKeys(db, keysSql, o.batchSize, (k) => Number(k));
  const rows = rowsOfKeys(
    db,
    keys,
    (chunk) => sharedRecordLabelRowsSql(d, ctx.profile, ctx.table, { slots: ctx.slots }, chunk),
    o.batchSize,
  );
  const labels = await findSharedLabels(rows, sim, o.details);
  return { duplicates, labels };
}

export async function runVerify(o: VerifyOptions, progress?: VerifyProgress): Promise<VerifyReport> {
  const profile = verifyProfile(o.release);
  const table = parseTableName(o.table);
  checkTimeZone(o.timezone);
  const target = parseDbUrl(o.db);

  const main = await openDb(target);
  let side: DbConnection | null = null;
  try {
    await checkLocationTable(main, table, profile);
    const ctx: VerifyContext = {
      profile,
      table,
      slots: slotCount(o.hashSize),
      version: await readTableVersion(main, table),
      uniqueIds: await hasUniqueIndexOn(main, table, 'contact_id'),
    };
    const estimate = await estimateRowCount(main, table);

    side = await openDb(target);
    const snapshot = await beginSharedSnapshot(main);
    await joinSharedSnapshot(side, snapshot);
    const cross = crossRowChecks(side, o, ctx);
    cross.catch(() => {}); // awaited below; keeps an early failure from going unhandled

    const tally = new VerifyTally(simulator(o, profile, table), expiryRule(profile, o.now, o.timezone), o.details);
    progress?.start(estimate);
    try {
      for await (const batch of readLocationRows(main, table, profile, o.batchSize)) {
        for (let i = 0; i < batch.length; i++) tally.add(batch[i]!);
        progress?.rows(batch.length);
      }
    } finally {
      progress?.stop();
    }
    const { duplicates, labels } = await cross;
    await endSnapshot(side);
    await endSnapshot(main);
    return buildReport({ options: o, target, ctx, tally, duplicates, labels });
  } finally {
    await side?.close();
    await main.close();
  }
}
