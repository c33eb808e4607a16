import type pg from 'pg';
import type { RegistrationEvent } from '../log/event.js';
import { isNewer, versionOf, type BindingVersion } from '../log/version.js';
import type { AorState } from '../project/planner.js';
import { ident } from '../project/stateSchema.js';
import { insertAllocated, saveLabelsParams, saveLabelsSql } from './labels.js';
import type { LegacyTable, LegacyVersion } from './legacyTable.js';

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
  /** Unix seconds for "expired" (2.2+ legacy tables get no row for an expired new binding); default now. */
  now?: number;
}

/** What one batch does to one legacy row, simulated in event order before anything is written. */
interface RowState {
  /** The legacy key of a row that exists; null for a row this batch inserts. */
  id: bigint | null;
  /** The target row this state follows (the change that created a new row). */
  targetId: bigint;
  /** The version read from the legacy table (null: a new row); writes are conditional on it. */
  read: LegacyVersion | null;
  version: BindingVersion;
  /** The change to write: the newest registration copied (update or insert), or null (unchanged). */
  event: RegistrationEvent | null;
  deleted: boolean;
}

/**
 * Copies one batch of the target registrar's changes into the legacy table, set-based: the batch
 * is first decided in memory, in event order, against the legacy rows read (and locked) once;
 * then written with one statement per kind of write (DELETE, UPDATE, INSERT; cut at 1,000 rows),
 * in one legacy transaction.
 *
 * - Loops: a change whose transaction id is in the target's own_tx table was written by the
 *   projection and is skipped, exactly (the id commits with the projection's rows).
 * - Which legacy row: the forward binding that holds the contact id (a row ulbridge projected
 *   from the legacy table), else the link reverse sync made when it copied a registrar's row,
 *   else none: the binding is new and gets a new legacy row.
 * - New rows of a 2.1 table take the database's ids; those of a 2.2+ table get contact ids
 *   allocated for the legacy registrar (src/reverse/labels.ts, the projection's planner).
 * - Conflicts: an upsert is written only if newer than the legacy row (log/version.ts); a delete
 *   removes the legacy row only if that row is not newer than the deleted state.
 * - Links of new rows (and label state) are committed in the target database BEFORE the legacy
 *   transaction commits, so the projection, which sees the legacy insert only after that commit,
 *   always finds the link and adopts the registrar's row instead of inserting a duplicate.
 * - Every step is idempotent (conflict rule, links), so a batch redelivered after a crash changes
 *   nothing twice; offsets can be committed to Kafka after this returns.
 */
export async function applyReverseBatch(
  target: pg.ClientBase,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  changes: TargetChange[],
): Promise<ReverseResult> {
  const base: ReverseResult = { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 };
  const s = ident(opts.stateSchema);
  const { own, legacyOf } = await lookUp(target, s, opts.sourceName, changes);
  const theirs: RegistrationEvent[] = [];
  for (const c of changes) {
    if (isOwnWrite(c, own)) base.ownWrites++;
    else if (c.event.op === 'TRUNCATE' || !c.event.registration) base.ignored++;
    else theirs.push(c.event);
  }
  if (theirs.length === 0) return base;
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOnce(target, legacy, opts, theirs, legacyOf, { ...base });
    } catch (e) {
      // The legacy registrar wrote a row between our read and our write: read again.
      if (!(e instanceof LegacyRowMoved) || attempt >= 5) throw e;
    }
  }
}

/** A conditional write found a legacy row no longer at the version read (the batch is decided again). */
class LegacyRowMoved extends Error {}

async function applyOnce(
  target: pg.ClientBase,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  theirs: readonly RegistrationEvent[],
  legacyOf: ReadonlyMap<bigint, bigint>,
  result: ReverseResult,
): Promise<ReverseResult> {
  const s = ident(opts.stateSchema);
  await legacy.begin();
  try {
    const versions = await legacy.readVersions([...new Set(legacyOf.values())]);
    // 1. Decide, in event order: the state each legacy row ends the batch in.
    const existing = new Map<bigint, RowState>(); // by legacy key
    for (const [id, version] of versions) existing.set(id, { id, targetId: 0n, read: version, version, event: null, deleted: false });
    const current = new Map<bigint, RowState>(); // by target contact id: the row its changes go to
    const created: RowState[] = [];
    const goneLinks = new Set<bigint>();
    for (const e of theirs) {
      const contactId = e.source.rowKey;
      const version = versionOf(e.registration!);
      let row = current.get(contactId);
      if (!row) {
        const id = legacyOf.get(contactId);
        row = id === undefined ? undefined : existing.get(id);
        if (row) current.set(contactId, row);
      }
      const live = row && !row.deleted ? row : undefined;
      if (e.op === 'DELETE') {
        goneLinks.add(contactId);
        if (!live) result.ignored++;
        else if (isNewer(live.version, version)) result.keptLegacy++;
        else {
          live.deleted = true;
          result.deleted++;
        }
        continue;
      }
      if (live) {
        if (!isNewer(version, live.version)) {
          result.keptLegacy++;
          continue;
        }
        live.version = version;
        live.event = e;
        result.updated++;
        continue;
      }
      // New to the legacy table (or it deleted its row, e.g. its registrar expired the contact).
      const fresh: RowState = { id: null, targetId: contactId, read: null, version, event: e, deleted: false };
      created.push(fresh);
      current.set(contactId, fresh);
      goneLinks.delete(contactId);
      result.inserted++;
    }

    // 2. Write it: deletes, updates, inserts; one statement per kind (per 1,000 rows). Deletes and
    // updates apply only to rows still at the version read; any other makes the batch start over.
    const rows = [...existing.values()];
    const deletes = rows.filter((r) => r.deleted).map((r) => ({ id: r.id!, expect: r.read! }));
    const updates = rows.filter((r) => !r.deleted && r.event).map((r) => ({ id: r.id!, reg: r.event!.registration!, expect: r.read! }));
    if ((await legacy.deleteRows(deletes)) !== deletes.length) throw new LegacyRowMoved();
    if ((await legacy.updateRows(updates)) !== updates.length) throw new LegacyRowMoved();
    const inserts = created.filter((r) => !r.deleted);
    const newLinks = new Map<bigint, bigint>(); // target contact id -> legacy key
    let labels: AorState[] = [];
    if (legacy.hasContactIds) {
      const now = opts.now ?? Math.floor(Date.now() / 1000);
      const allocated = await insertAllocated(
        target,
        opts.stateSchema,
        legacy,
        inserts.map((r) => ({ targetId: r.targetId, event: r.event! })),
        now,
      );
      for (const [t, l] of allocated.inserted) newLinks.set(t, l);
      // Expired, or an AOR the legacy registrar cannot load: no row (as the projection decides).
      result.inserted -= allocated.skipped.length;
      result.ignored += allocated.skipped.length;
      labels = allocated.aors;
    } else {
      const created = await legacy.insertAutoIds(inserts.map((r) => r.event!.registration!));
      inserts.forEach((r, i) => newLinks.set(r.targetId, created[i]!));
    }
    for (const c of newLinks.keys()) goneLinks.delete(c);
    await writeLinks(target, s, opts, newLinks, goneLinks, labels);
    await legacy.commit();
  } catch (e) {
    await legacy.rollback().catch(() => undefined);
    throw e;
  }
  return result;
}

/**
 * One round trip to the target: which of the batch's transactions the projection recorded as its
 * own, and the legacy key of each contact id (the projection's forward binding first, then
 * reverse sync's link).
 */
async function lookUp(
  target: pg.ClientBase,
  s: string,
  sourceName: string,
  changes: readonly TargetChange[],
): Promise<{ own: Set<bigint>; legacyOf: Map<bigint, bigint> }> {
  const txIds = [...new Set(changes.map((c) => c.txId).filter((t): t is bigint => t !== null))].map(String);
  const ids = [...new Set(changes.filter((c) => c.event.registration).map((c) => c.event.source.rowKey.toString()))];
  const { rows } = await target.query(
    `SELECT 0 AS o, xid::text AS c, NULL AS l FROM ${s}.own_tx WHERE xid = ANY($1::bigint[])
     UNION ALL
     SELECT 1, contact_id::text, source_row_key::text FROM ${s}.bindings WHERE contact_id = ANY($2::bigint[]) AND source_name = $3
     UNION ALL
     SELECT 2, contact_id::text, legacy_id::text FROM ${s}.links WHERE contact_id = ANY($2::bigint[])
     ORDER BY o`,
    [txIds, ids, sourceName],
  );
  const own = new Set<bigint>();
  const legacyOf = new Map<bigint, bigint>();
  for (const r of rows) {
    const c = BigInt(r.c as string);
    if (r.o === 0) own.add(c);
    else if (!legacyOf.has(c)) legacyOf.set(c, BigInt(r.l as string));
  }
  return { own, legacyOf };
}

/**
 * The one place that tells a change the projection wrote itself (never copied back): its
 * transaction id is recorded in own_tx. A MySQL/MariaDB target's check (ownWrites.ts) belongs here.
 */
function isOwnWrite(c: TargetChange, own: ReadonlySet<bigint>): boolean {
  return c.txId !== null && own.has(c.txId);
}

/**
 * Upserts the links of rows just inserted, drops those of rows the registrar deleted, and saves
 * the legacy label state: one statement, so one target transaction (and one round trip).
 */
async function writeLinks(
  target: pg.ClientBase,
  s: string,
  opts: ReverseApplyOptions,
  add: Map<bigint, bigint>,
  drop: Set<bigint>,
  labels: readonly AorState[],
): Promise<void> {
  if (add.size === 0 && drop.size === 0 && labels.length === 0) return;
  await target.query(
    `WITH dropped AS (DELETE FROM ${s}.links WHERE contact_id = ANY($1::bigint[])),
     labels AS (${saveLabelsSql(s, 5)})
     INSERT INTO ${s}.links (contact_id, binding, legacy_id)
     SELECT c, $4 || ':' || l, l FROM unnest($2::bigint[], $3::bigint[]) AS u(c, l)
     ON CONFLICT (contact_id) DO UPDATE SET binding = EXCLUDED.binding, legacy_id = EXCLUDED.legacy_id, created_at = now()`,
    [[...drop].map(String), [...add.keys()].map(String), [...add.values()].map(String), opts.sourceName, ...saveLabelsParams(labels)],
  );
}

/** Drops own_tx entries older than the given age (the reverse consumer is expected to be far ahead). */
export async function pruneOwnTransactions(target: pg.ClientBase, stateSchema: string, olderThanSeconds: number): Promise<number> {
  const res = await target.query(`DELETE FROM ${ident(stateSchema)}.own_tx WHERE committed_at < now() - make_interval(secs => $1)`, [
    olderThanSeconds,
  ]);
  return res.rowCount ?? 0;
}
