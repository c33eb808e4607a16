import type { ReleaseProfile } from '../opensips/releases.js';
import type { Dialect } from './dialect.js';
import { locationSelectList } from './locationRows.js';
import type { TableName } from './table.js';

/**
 * Candidate rows for the two cross-row checks of verify, found by the database with GROUP BY so
 * the client's memory stays flat whatever the table size (the server spills big aggregates to
 * disk; the client only streams the — normally empty — candidate rows, ordered so each group
 * arrives contiguously). The candidates are a superset: the caller re-checks each row with the
 * preload simulator and counts only rows OpenSIPS would load.
 */

const RLABEL_MASK = 0xffffffff;

function slotExpr(d: Dialect, col: string, slots: number): string {
  // For a loadable row the slot is core_hash & (slots-1) = aorhash16 & (slots-1), slots <= 2^16.
  return d.bitField(col, 46, slots - 1);
}

function rlabelExpr(d: Dialect, col: string): string {
  return d.bitField(col, 14, RLABEL_MASK);
}

/** Rows whose contact_id is held by more than one row, ordered by contact_id. */
export function duplicateContactIdRowsSql(d: Dialect, profile: ReleaseProfile, t: TableName): string {
  const id = d.quoteIdent('contact_id');
  return (
    `SELECT ${locationSelectList(d, profile, 'l.')} FROM ${d.table(t)} l ` +
    `JOIN (SELECT ${id} AS k FROM ${d.table(t)} GROUP BY ${id} HAVING COUNT(*) > 1) g ON l.${id} = g.k ` +
    `ORDER BY l.${id}`
  );
}

/**
 * Rows of every (slot, rlabel) that more than one AOR uses, ordered by slot, rlabel, then the AOR
 * bytes (so equal AORs are adjacent and the caller counts distinct ones without a set). "More
 * than one AOR" is tested as min(x) <> max(x) over username (and domain with use_domain), compared
 * byte-wise: cheaper than COUNT(DISTINCT) and exact for "at least two distinct values".
 */
export function sharedRecordLabelRowsSql(
  d: Dialect,
  profile: ReleaseProfile,
  t: TableName,
  opts: { slots: number; useDomain: boolean },
): string {
  const id = d.quoteIdent('contact_id');
  const user = d.quoteIdent('username');
  const domain = d.quoteIdent('domain');
  const differs = (col: string): string => `MIN(${d.binaryText(col)}) <> MAX(${d.binaryText(col)})`;
  const having = opts.useDomain ? `${differs(user)} OR ${differs(domain)}` : differs(user);
  const gs = slotExpr(d, id, opts.slots);
  const gr = rlabelExpr(d, id);
  return (
    `SELECT ${locationSelectList(d, profile, 'l.')} FROM ${d.table(t)} l ` +
    `JOIN (SELECT ${gs} AS slot, ${gr} AS rlabel FROM ${d.table(t)} GROUP BY ${gs}, ${gr} HAVING ${having}) g ` +
    `ON ${slotExpr(d, `l.${id}`, opts.slots)} = g.slot AND ${rlabelExpr(d, `l.${id}`)} = g.rlabel ` +
    `ORDER BY g.slot, g.rlabel, ${d.binaryText(`l.${user}`)}, ${d.binaryText(`l.${domain}`)}`
  );
}
