import type { DbConnection } from '../db/connection.js';
import { hasUniqueIndexOn, estimateRowCount, readTableVersion, type VersionRow } from '../db/inspect.js';
import { duplicateContactIdRowsSql, sharedRecordLabelRowsSql } from '../db/labelGroups.js';
import { checkLocationTable, readLocationRows, streamLocationRows } from '../db/locationRows.js';
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
  const duplicates = ctx.uniqueIds
    ? { ids: 0, rows: 0, examples: [] }
    : await findDuplicateIds(streamLocationRows(db, duplicateContactIdRowsSql(db.dialect, ctx.profile, ctx.table), [], o.batchSize), sim, o.details);
  const labelsSql = sharedRecordLabelRowsSql(db.dialect, ctx.profile, ctx.table, { slots: ctx.slots, useDomain: o.useDomain });
  const labels = await findSharedLabels(streamLocationRows(db, labelsSql, [], o.batchSize), sim, o.details);
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
