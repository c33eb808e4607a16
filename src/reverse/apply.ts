import type pg from 'pg';
import type { RegistrationEvent } from '../log/event.js';
import { isNewer, versionOf } from '../log/version.js';
import { ident } from '../project/stateSchema.js';
import type { LegacyTable } from './legacyTable.js';

/** One decoded change of the target table, with the source transaction id Debezium reported. */
export interface TargetChange {
  event: RegistrationEvent;
  txId: bigint | null;
}

export interface ReverseResult {
  /** Changes the projection made itself (their transaction is in own_tx): never copied back. */
  ownWrites: number;
  inserted: number;
  updated: number;
  deleted: number;
  /** Registrar changes not copied because the legacy row is as new or newer (the conflict rule). */
  keptLegacy: number;
  /** Changes with nothing to do (TRUNCATE, a delete of a row the legacy table no longer has). */
  ignored: number;
}

export interface ReverseApplyOptions {
  /** State schema of the target (the projection's): bindings, links, own_tx. */
  stateSchema: string;
  /** The forward source whose bindings are the legacy table's rows. */
  sourceName: string;
}

/**
 * Copies one batch of the target registrar's changes into the legacy table.
 *
 * - Loops: a change whose transaction id is in the target's own_tx table was written by the
 *   projection and is skipped, exactly (the id commits with the projection's rows).
 * - Which legacy row: the forward binding that holds the contact id (a row ulbridge projected
 *   from the legacy table), else the link reverse sync made when it copied a registrar's row,
 *   else none: the binding is new and gets a new legacy row.
 * - Conflicts: an upsert is written only if newer than the legacy row (log/version.ts); a delete
 *   removes the legacy row only if that row is not newer than the deleted state.
 * - Links of new rows are committed in the target database BEFORE the legacy transaction commits,
 *   so the projection, which sees the legacy insert only after that commit, always finds the link
 *   and adopts the registrar's row instead of inserting a duplicate.
 * - Every step is idempotent (conflict rule, links), so a batch redelivered after a crash changes
 *   nothing twice; offsets can be committed to Kafka after this returns.
 */
export async function applyReverseBatch(
  target: pg.ClientBase,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  changes: TargetChange[],
): Promise<ReverseResult> {
  const result: ReverseResult = { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 };
  const s = ident(opts.stateSchema);
  const txIds = [...new Set(changes.map((c) => c.txId).filter((t): t is bigint => t !== null))];
  const own = new Set<bigint>();
  if (txIds.length > 0) {
    const { rows } = await target.query(`SELECT xid::text AS x FROM ${s}.own_tx WHERE xid = ANY($1::bigint[])`, [txIds.map(String)]);
    for (const r of rows) own.add(BigInt(r.x as string));
  }
  const theirs: RegistrationEvent[] = [];
  for (const c of changes) {
    if (c.txId !== null && own.has(c.txId)) result.ownWrites++;
    else if (c.event.op === 'TRUNCATE' || !c.event.registration) result.ignored++;
    else theirs.push(c.event);
  }
  if (theirs.length === 0) return result;

  // contact id -> legacy id, from the projection's bindings, then from reverse sync's links.
  const ids = [...new Set(theirs.map((e) => e.source.rowKey.toString()))];
  const legacyOf = new Map<bigint, bigint>();
  const bound = await target.query(
    `SELECT contact_id::text AS c, source_row_key::text AS l FROM ${s}.bindings WHERE contact_id = ANY($1::bigint[]) AND source_name = $2`,
    [ids, opts.sourceName],
  );
  for (const r of bound.rows) legacyOf.set(BigInt(r.c as string), BigInt(r.l as string));
  const linked = await target.query(
    `SELECT contact_id::text AS c, legacy_id::text AS l FROM ${s}.links WHERE contact_id = ANY($1::bigint[])`,
    [ids],
  );
  for (const r of linked.rows) if (!legacyOf.has(BigInt(r.c as string))) legacyOf.set(BigInt(r.c as string), BigInt(r.l as string));

  const newLinks = new Map<bigint, bigint>(); // contact id -> legacy id
  const goneLinks = new Set<bigint>();
  await legacy.begin();
  try {
    const versions = await legacy.lockVersions([...new Set(legacyOf.values())]);
    for (const e of theirs) {
      const contactId = e.source.rowKey;
      const reg = e.registration!;
      const version = versionOf(reg);
      const id = legacyOf.get(contactId);
      const current = id === undefined ? undefined : versions.get(id);
      if (e.op === 'DELETE') {
        goneLinks.add(contactId);
        newLinks.delete(contactId);
        if (id === undefined || current === undefined) result.ignored++;
        else if (isNewer(current, version)) result.keptLegacy++;
        else {
          await legacy.delete(id);
          versions.delete(id);
          result.deleted++;
        }
        continue;
      }
      if (id !== undefined && current !== undefined) {
        if (!isNewer(version, current)) {
          result.keptLegacy++;
          continue;
        }
        await legacy.update(id, reg);
        versions.set(id, version);
        result.updated++;
        continue;
      }
      // New to the legacy table (or it deleted its row, e.g. its registrar expired the contact).
      const created = await legacy.insert(reg);
      legacyOf.set(contactId, created);
      versions.set(created, version);
      newLinks.set(contactId, created);
      goneLinks.delete(contactId);
      result.inserted++;
    }
    await writeLinks(target, s, opts.sourceName, newLinks, goneLinks);
    await legacy.commit();
  } catch (e) {
    await legacy.rollback().catch(() => undefined);
    throw e;
  }
  return result;
}

/** Upserts the links of rows just inserted and drops those of rows the registrar deleted. */
async function writeLinks(
  target: pg.ClientBase,
  s: string,
  sourceName: string,
  add: Map<bigint, bigint>,
  drop: Set<bigint>,
): Promise<void> {
  if (add.size === 0 && drop.size === 0) return;
  await target.query('BEGIN');
  try {
    if (drop.size > 0) await target.query(`DELETE FROM ${s}.links WHERE contact_id = ANY($1::bigint[])`, [[...drop].map(String)]);
    if (add.size > 0) {
      const contactIds = [...add.keys()].map(String);
      const legacyIds = [...add.values()].map(String);
      await target.query(
        `INSERT INTO ${s}.links (contact_id, binding, legacy_id)
         SELECT c, $3 || ':' || l, l FROM unnest($1::bigint[], $2::bigint[]) AS u(c, l)
         ON CONFLICT (contact_id) DO UPDATE SET binding = EXCLUDED.binding, legacy_id = EXCLUDED.legacy_id, created_at = now()`,
        [contactIds, legacyIds, sourceName],
      );
    }
    await target.query('COMMIT');
  } catch (e) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** Drops own_tx entries older than the given age (the reverse consumer is expected to be far ahead). */
export async function pruneOwnTransactions(target: pg.ClientBase, stateSchema: string, olderThanSeconds: number): Promise<number> {
  const res = await target.query(`DELETE FROM ${ident(stateSchema)}.own_tx WHERE committed_at < now() - make_interval(secs => $1)`, [
    olderThanSeconds,
  ]);
  return res.rowCount ?? 0;
}
