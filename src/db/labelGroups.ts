import type { ReleaseProfile } from '../opensips/releases.js';
import type { Dialect } from './dialect.js';
import { locationSelectList } from './locationRows.js';
import type { TableName } from './table.js';

/**
 * The two cross-row checks of verify (duplicate contact ids, AORs sharing a record label in one
 * hash slot), done in two steps so the client's memory does not grow with the table:
 *
 *   1. keys:  the database aggregates the whole table (GROUP BY, spilling to disk if it must) and
 *             returns only the keys of suspicious groups, normally none;
 *   2. rows:  the rows of those keys, fetched in chunks of keys and ordered so each group arrives
 *             contiguously; the caller re-checks each row with the preload simulator and counts
 *             only rows OpenSIPS would load (the keys are a superset: rejected rows count in 1).
 *
 * A single JOIN of the aggregate back to the table looks equivalent but is not: the planner
 * cannot know the aggregate is nearly empty and sorts the whole table for a merge join.
 *
 * Label keys are packed as rlabel * 65536 + slot (< 2^48, exact in a double). rlabel in the high
 * half on purpose: PostgreSQL hashes int8 as low32 XOR high32, and slot-high packing collapses
 * per-slot counters onto a few hash values.
 */

const RLABEL_MASK = 0xffffffff;

/** For a loadable row the slot is core_hash & (slots-1) = aorhash16 & (slots-1), slots <= 2^16. */
function slotExpr(d: Dialect, id: string, slots: number): string {
  return d.bitField(id, 46, slots - 1);
}

function rlabelExpr(d: Dialect, id: string): string {
  return d.bitField(id, 14, RLABEL_MASK);
}

function labelKeyExpr(d: Dialect, id: string, slots: number): string {
  return `((${rlabelExpr(d, id)} << 16) | ${slotExpr(d, id, slots)})`;
}

export function packLabelKey(slot: number, rlabel: number): number {
  return rlabel * 65536 + slot;
}

/** Step 1: contact ids held by more than one row (column `k`, bigint). */
export function duplicateContactIdKeysSql(d: Dialect, t: TableName): string {
  const id = d.quoteIdent('contact_id');
  return `SELECT ${id} AS k FROM ${d.table(t)} WHERE ${id} IS NOT NULL GROUP BY ${id} HAVING COUNT(*) > 1 ORDER BY ${id}`;
}

/** Step 2: rows holding the given contact ids, ordered by contact_id. */
export function duplicateContactIdRowsSql(d: Dialect, profile: ReleaseProfile, t: TableName, ids: readonly bigint[]): string {
  const id = d.quoteIdent('contact_id');
  return `SELECT ${locationSelectList(d, profile)} FROM ${d.table(t)} WHERE ${id} IN (${ids.join(',')}) ORDER BY ${id}`;
}

/**
 * Step 1: keys (column `k`) of every (slot, rlabel) that more than one AOR uses. "More than one
 * AOR" is tested as min(x) <> max(x) over username (and domain with use_domain), byte-wise:
 * cheaper than COUNT(DISTINCT) and exact for "at least two distinct values".
 */
export function sharedRecordLabelKeysSql(d: Dialect, t: TableName, opts: { slots: number; useDomain: boolean }): string {
  const id = d.quoteIdent('contact_id');
  const user = d.quoteIdent('username');
  const domain = d.quoteIdent('domain');
  const differs = (col: string): string => `MIN(${d.binaryText(col)}) <> MAX(${d.binaryText(col)})`;
  const having = opts.useDomain ? `${differs(user)} OR ${differs(domain)}` : differs(user);
  return (
    `SELECT ${labelKeyExpr(d, id, opts.slots)} AS k FROM ${d.table(t)} WHERE ${id} IS NOT NULL ` +
    `GROUP BY ${slotExpr(d, id, opts.slots)}, ${rlabelExpr(d, id)} HAVING ${having} ORDER BY 1`
  );
}

/**
 * Step 2: rows of the given label keys, ordered by slot, rlabel, then the AOR bytes (so equal AORs
 * are adjacent and the caller counts distinct ones without a set).
 */
export function sharedRecordLabelRowsSql(
  d: Dialect,
  profile: ReleaseProfile,
  t: TableName,
  opts: { slots: number },
  keys: readonly number[],
): string {
  const id = d.quoteIdent('contact_id');
  return (
    `SELECT ${locationSelectList(d, profile)} FROM ${d.table(t)} WHERE ${labelKeyExpr(d, id, opts.slots)} IN (${keys.join(',')}) ` +
    `ORDER BY ${slotExpr(d, id, opts.slots)}, ${rlabelExpr(d, id)}, ${d.binaryText(d.quoteIdent('username'))}, ${d.binaryText(d.quoteIdent('domain'))}`
  );
}
