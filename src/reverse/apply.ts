import type pg from 'pg';
import type { RegistrationEvent } from '../log/event.js';
import { isNewer, versionOf, type BindingVersion } from '../log/version.js';
import { allocateIds, readLabelsAhead, type Allocation, type LabelsAhead } from './labels.js';
import type { LegacyTable, LegacyVersion } from './legacyTable.js';
import type { OwnWriteVerdict } from './ownWrites.js';
import { pgReverseSession } from './pgTarget.js';
import type { LinksTransaction, ReverseTargetSession, TargetChange, TargetLookup } from './target.js';

export type { TargetChange } from './target.js';

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
  /**
   * MySQL/MariaDB targets, present only when > 0: changes that may be the projection's own (a
   * marker whose GTID a server crash lost covers them), applied under the conflict rule. Each is
   * also counted in the outcome it got (inserted, updated, kept_legacy, ...).
   */
  ambiguous?: number;
}

export interface ReverseApplyOptions {
  /** State schema of the target (the projection's): bindings, links, own_tx. */
  stateSchema: string;
  /** The forward source whose bindings are the legacy table's rows. */
  sourceName: string;
  /** Unix seconds for "expired" (2.2+ legacy tables get no row for an expired new binding); default now. */
  now?: number;
  /**
   * MySQL/MariaDB: how long own_tx is re-read while a change is `pending` (a marker whose GTID is
   * not written yet may be its transaction) before the batch fails, to be redelivered (default 10 s).
   */
  pendingTimeoutMs?: number;
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
 * - Loops: a change the projection wrote is skipped, exactly: PostgreSQL, its transaction id is in
 *   the target's own_tx (the id commits with the projection's rows); MySQL/MariaDB, an own_tx
 *   marker holds its GTID (src/reverse/ownWrites.ts; `pending` is decided again shortly,
 *   `ambiguous` is copied under the conflict rule and counted). The target's dialect is behind
 *   ReverseTargetSession (src/reverse/target.ts): one algorithm, two databases.
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
  targetSession: ReverseTargetSession | pg.ClientBase,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  changes: TargetChange[],
): Promise<ReverseResult> {
  return (await applyReverseBatches(targetSession, legacy, opts, [changes]))[0]!;
}

/** What the next batch's decisions start from, fetched while the current batch writes. */
interface LookAhead {
  looked: TargetLookup;
  /** The versions of the legacy rows it names, read on the legacy table's reader; null: read them in the transaction. */
  versions: Map<bigint, LegacyVersion> | null;
  /** 2.2+ legacy tables: label state of the AORs of its changes that name no legacy row (new rows, most likely). */
  labels: LabelsAhead | null;
}

/**
 * Consecutive batches (the slices of one Kafka fetch, in offset order), each applied as
 * applyReverseBatch applies one, in its own legacy transaction, one after the other; but the next
 * batch's target lookup (own writes, legacy keys) runs on the target connection, and then the
 * versions of the legacy rows it names are read on the legacy table's reader connection (when it
 * has one) and, for a 2.2+ table, the label state of its new rows' AORs on the target connection,
 * while the current batch is written to the legacy table, so none of them costs a round trip of
 * its own. Links change only here (the projection reads them): a batch naming a target row whose
 * link the batch before it wrote or dropped is looked up again once that batch is done, so every
 * batch decides on the links as they are when it starts, as if applied alone; versions read ahead
 * of legacy rows the batch before it updated or deleted, and label state of AORs it saved, are
 * read again in the transaction (any other row the legacy registrar wrote meanwhile fails the
 * conditional write, and the batch is decided again on a fresh read). `afterEach` runs after each
 * batch's legacy commit, before the next batch writes (the service commits that batch's Kafka
 * offsets there).
 */
export async function applyReverseBatches(
  targetSession: ReverseTargetSession | pg.ClientBase,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  batches: readonly TargetChange[][],
  afterEach?: (index: number, result: ReverseResult) => Promise<void>,
): Promise<ReverseResult[]> {
  // A PostgreSQL client is the PostgreSQL target session of opts.stateSchema.
  const target = 'lookUp' in targetSession ? targetSession : pgReverseSession(targetSession, opts.stateSchema);
  const results: ReverseResult[] = [];
  let next: Promise<LookAhead> | null = null;
  try {
    for (const [i, changes] of batches.entries()) {
      const prefetched = next;
      next = null;
      const touched = new Set<bigint>();
      const written = new Set<bigint>();
      const aors = new Set<string>();
      // The next slice's lookups, which share the target session with this slice's links.
      const targetIdle = async (): Promise<void> => void (await next?.catch(() => undefined));
      const result = await applyLooked(target, legacy, opts, changes, prefetched, { touched, written, aors }, targetIdle, () => {
        // This batch is looked up: the next one's lookup (and legacy read) runs while this one writes.
        const following = batches[i + 1];
        if (following && following.length > 0) {
          next = lookAhead(target, legacy, opts, following);
          next.catch(() => undefined); // awaited below, or dropped with the batch's failure
        }
      });
      const following = batches[i + 1];
      if (next && following && touched.size > 0 && following.some((c) => touched.has(c.event.source.rowKey))) {
        // Looked up before this batch's links changed: look it up again.
        await (next as Promise<LookAhead>).catch(() => undefined);
        next = null;
      } else if (next && (written.size > 0 || aors.size > 0)) {
        // What was read ahead of rows (versions) or AORs (label state) this batch wrote is stale:
        // the next batch reads it in its transaction.
        next = (next as Promise<LookAhead>).then((a) => ({
          ...a,
          versions: a.versions && [...a.looked.legacyOf.values()].some((k) => written.has(k)) ? null : a.versions,
          labels: a.labels && [...a.labels.keys].some((k) => aors.has(k)) ? null : a.labels,
        }));
        next.catch(() => undefined);
      }
      results.push(result);
      if (afterEach) await afterEach(i, result);
    }
  } finally {
    // A failed batch: let the next one's lookup finish before the caller drops the session.
    if (next) await next.catch(() => undefined);
  }
  return results;
}

/**
 * A batch's lookup, then (at once) the versions of the legacy rows it names, read on the legacy
 * table's reader, and for a 2.2+ table the label state of the AORs its new rows will have.
 */
async function lookAhead(
  target: ReverseTargetSession,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  changes: TargetChange[],
): Promise<LookAhead> {
  const looked = await decideOwnWrites(target, opts, changes);
  const fresh = changes
    .filter(
      (c, i) =>
        c.event.op === 'UPSERT' && c.event.registration && looked.verdicts[i] !== 'own' && !looked.legacyOf.has(c.event.source.rowKey),
    )
    .map((c) => c.event);
  const [versions, labels] = await Promise.all([
    legacy.readVersionsAhead([...new Set(looked.legacyOf.values())]),
    legacy.hasContactIds && fresh.length > 0 ? readLabelsAhead(target, legacy, fresh) : null,
  ]);
  return { looked, versions, labels };
}

/** What a batch changed that the batch after it may have looked up: target rows' links, legacy rows written. */
interface Touched {
  /** Target contact ids whose link was written or dropped. */
  touched: Set<bigint>;
  /** Legacy keys updated or deleted. */
  written: Set<bigint>;
  /** 2.2+: AORs whose label state was saved. */
  aors: Set<string>;
}

/** One batch: its lookup (given, or made now beside the legacy BEGIN), the decisions, the writes. */
async function applyLooked(
  target: ReverseTargetSession,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  changes: TargetChange[],
  prefetched: Promise<LookAhead> | null,
  changed: Touched,
  targetIdle: () => Promise<void>,
  lookedUp: () => void,
): Promise<ReverseResult> {
  const base: ReverseResult = { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 };
  if (changes.length === 0) {
    lookedUp();
    return base;
  }
  // The legacy transaction opens while the target is looked up (two connections, two databases):
  // its BEGIN costs no round trip of its own. It is rolled back if the batch has nothing to copy.
  const begun = legacy.begin();
  begun.catch(() => undefined); // awaited below; a failed BEGIN fails the batch there
  let looked: TargetLookup;
  let ahead: Pick<LookAhead, 'versions' | 'labels'> = { versions: null, labels: null };
  try {
    if (prefetched) ({ looked, ...ahead } = await prefetched);
    else looked = await decideOwnWrites(target, opts, changes);
  } catch (e) {
    await endBegun(legacy, begun);
    throw e;
  }
  lookedUp();
  const { verdicts, legacyOf } = looked;
  const theirs: RegistrationEvent[] = [];
  let ambiguous = 0;
  changes.forEach((c, i) => {
    const verdict = verdicts[i]!;
    if (verdict === 'own') base.ownWrites++;
    else if (c.event.op === 'TRUNCATE' || !c.event.registration) base.ignored++;
    else {
      // foreign, or ambiguous: copied under the conflict rule (an echo of the projection's own
      // write carries the version the legacy row already has and changes nothing).
      if (verdict === 'ambiguous') ambiguous++;
      theirs.push(c.event);
    }
  });
  if (ambiguous > 0) base.ambiguous = ambiguous;
  if (theirs.length === 0) {
    await begun;
    await legacy.rollback();
    return base;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      // (A failed BEGIN fails the batch; the service then opens a new legacy session.)
      await (attempt === 1 ? begun : legacy.begin());
      // A retry reads the rows (and label state) again: one of them moved since the read.
      const fromAhead = attempt === 1 ? ahead : { versions: null, labels: null };
      return await applyOnce(target, legacy, opts, theirs, legacyOf, fromAhead, { ...base }, changed, targetIdle);
    } catch (e) {
      // The legacy registrar wrote a row between our read and our write: read again.
      if (!(e instanceof LegacyRowMoved) || attempt >= 5) throw e;
    }
  }
}

/** Ends a legacy transaction begun beside a target lookup that failed (errors ignored: the session is dropped). */
async function endBegun(legacy: LegacyTable, begun: Promise<unknown>): Promise<void> {
  try {
    await begun;
    await legacy.rollback();
  } catch {
    // the batch fails with the lookup's error
  }
}

/** A conditional write found a legacy row no longer at the version read (the batch is decided again). */
class LegacyRowMoved extends Error {}

/** A change stayed `pending` longer than the bound: the batch fails and is redelivered, never copied blindly. */
export class OwnWritePending extends Error {}

/**
 * The own-write verdicts and legacy keys of a batch. A `pending` change (a MySQL/MariaDB own_tx
 * marker whose GTID is about to be written may be its transaction) is decided again on fresh
 * own_tx rows, a few milliseconds later, then less often; still pending after pendingTimeoutMs
 * (the projection's next session bounds a marker a server crash left without GTID), the batch
 * fails with OwnWritePending and is redelivered.
 */
async function decideOwnWrites(target: ReverseTargetSession, opts: ReverseApplyOptions, changes: TargetChange[]): Promise<TargetLookup> {
  const deadline = Date.now() + (opts.pendingTimeoutMs ?? 10_000);
  for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
    const looked = await target.lookUp(opts.sourceName, changes);
    const pending = looked.verdicts.filter((v: OwnWriteVerdict) => v === 'pending').length;
    if (pending === 0) return looked;
    if (Date.now() >= deadline) {
      throw new OwnWritePending(
        `reverse sync: ${pending} change(s) may be the projection's own (an own_tx marker without its GTID) after ${opts.pendingTimeoutMs ?? 10_000} ms; the batch is retried`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(1, deadline - Date.now()))));
  }
}

async function applyOnce(
  target: ReverseTargetSession,
  legacy: LegacyTable,
  opts: ReverseApplyOptions,
  theirs: readonly RegistrationEvent[],
  legacyOf: ReadonlyMap<bigint, bigint>,
  ahead: Pick<LookAhead, 'versions' | 'labels'>,
  result: ReverseResult,
  { touched, written, aors }: Touched,
  targetIdle: () => Promise<void>,
): Promise<ReverseResult> {
  // The caller began the legacy transaction.
  try {
    const versions = ahead.versions ?? (await legacy.readVersions([...new Set(legacyOf.values())]));
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
    for (const r of [...deletes, ...updates]) written.add(r.id);
    if ((await legacy.deleteRows(deletes)) !== deletes.length) throw new LegacyRowMoved();
    if ((await legacy.updateRows(updates)) !== updates.length) throw new LegacyRowMoved();
    const inserts = created.filter((r) => !r.deleted);
    /** These target rows get a link (so theirs is not dropped); links written or dropped are touched. */
    const linking = (linked: Iterable<bigint>): void => {
      for (const c of linked) {
        goneLinks.delete(c);
        touched.add(c);
      }
      for (const c of goneLinks) touched.add(c);
    };
    if (legacy.hasContactIds && inserts.length > 0) {
      // 2.2+: the new rows' links and label state are written in a target transaction opened
      // beside their INSERT, committed once the rows are in (and before the legacy commit).
      const allocation = await allocateIds(
        target,
        legacy,
        inserts.map((r) => ({ targetId: r.targetId, event: r.event! })),
        opts.now ?? Math.floor(Date.now() / 1000),
        ahead.labels,
      );
      // Expired, or an AOR the legacy registrar cannot load: no row (as the projection decides).
      result.inserted -= allocation.skipped.length;
      result.ignored += allocation.skipped.length;
      for (const a of allocation.aors) aors.add(a.aor);
      linking(allocation.planned.keys());
      await writeBeside(target, opts.sourceName, allocation, goneLinks, targetIdle);
    } else {
      const newLinks = new Map<bigint, bigint>(); // target contact id -> legacy key
      if (inserts.length > 0) {
        const ids = await legacy.insertAutoIds(inserts.map((r) => r.event!.registration!));
        inserts.forEach((r, i) => newLinks.set(r.targetId, ids[i]!));
      }
      linking(newLinks.keys());
      // Links commit in the target database BEFORE the legacy transaction does.
      await target.writeLinks(opts.sourceName, newLinks, goneLinks, []);
    }
    await legacy.commit();
  } catch (e) {
    await legacy.rollback().catch(() => undefined);
    throw e;
  }
  return result;
}

/**
 * 2.2+: inserts the allocated rows into the legacy table while their links (as planned), the links
 * dropped and the label state are written in a target transaction; rows relabelled after a clash
 * are amended into it, and it commits once every row is in. Until then no link is visible to the
 * projection, so none ever names a row that is not the binding's (a clash is another writer's
 * row). `targetIdle` resolves once the next slice's lookups, on the same target session, are done.
 */
async function writeBeside(
  target: ReverseTargetSession,
  sourceName: string,
  allocation: Allocation,
  drop: ReadonlySet<bigint>,
  targetIdle: () => Promise<void>,
): Promise<void> {
  const inserting = allocation.insert();
  inserting.catch(() => undefined); // awaited below
  let links: LinksTransaction | null = null;
  try {
    await targetIdle();
    links = await target.openLinks(sourceName, allocation.planned, drop, allocation.aors);
    const relabelled = await inserting;
    if (relabelled.size > 0) await links.amend(relabelled, allocation.aors);
    await links.commit();
  } catch (e) {
    await inserting.catch(() => undefined);
    if (links) await links.rollback().catch(() => undefined);
    throw e;
  }
}

/** Drops own_tx entries older than the given age (the reverse consumer is expected to be far ahead). */
export async function pruneOwnTransactions(
  target: ReverseTargetSession | pg.ClientBase,
  stateSchema: string,
  olderThanSeconds: number,
): Promise<number> {
  return ('lookUp' in target ? target : pgReverseSession(target, stateSchema)).pruneOwnTransactions(olderThanSeconds);
}
