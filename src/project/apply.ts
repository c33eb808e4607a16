import type { RegistrationEvent } from '../log/event.js';
import { isNewer, type BindingVersion } from '../log/version.js';
import { CLABEL_MASK } from '../opensips/contactId.js';
import type { BatchInput, BatchResult } from './batch.js';
import { batchPosition, emptyBatchResult, planSegment, splitBatch, type SegmentItem } from './batchSteps.js';
import { Planner, type AorState, type BindingState, type Plan, type PlannedRow } from './planner.js';
import type { ImageSelection, RowChange, RowImage } from './rowImage.js';
import type { AorIdentity, Target } from './target.js';

/**
 * What the applier needs of a target database: one open transaction on one connection, in the
 * dialect's SQL. PostgreSQL (pgSession.ts) and MySQL/MariaDB (mysqlSession.ts) implement it; the
 * algorithm (applyBatch below) is written once.
 */
export interface ApplySession {
  readonly target: Target;
  /**
   * Opens the transaction and locks the partition's offsets row (created at 0 if missing): the
   * stored next offset; then reads these bindings as loadBindings would, in the same round trip,
   * or not at all (bindings null: PostgreSQL until the connection has prepared loadBindings).
   */
  begin(topic: string, partition: number, bindingKeys: string[]): Promise<{ stored: bigint; bindings: Map<string, BindingState> | null }>;
  /**
   * Sends what writePlan held back (deferredWrites.ts) and stores the next offset (when not null),
   * marks the transaction as ulbridge's on a shared target, and commits.
   */
  commit(topic: string, partition: number, next: bigint | null): Promise<void>;
  rollback(): Promise<void>;
  /** Sends what writePlan held back: called before any other statement once a plan is written. */
  flush(): Promise<void>;
  /** The AOR identity (hash, slot) as the target registrar computes it from the row it reads back. */
  aorIdentity(): (username: string, domain: string | null) => AorIdentity;
  loadBindings(keys: string[]): Promise<Map<string, BindingState>>;
  /** Shared targets: reverse-sync links of these bindings (the registrar row each one copies). */
  loadLinks(keys: string[]): Promise<Map<string, bigint>>;
  /** The AOR rows of these keys, locked in one order (two partitions may hold one AOR). */
  lockAors(keys: string[]): Promise<Map<string, AorState>>;
  /**
   * Record labels for the AORs of `wanted` not in `aors`; returns the planner's takeRlabel. A
   * session may create the AOR rows here (adding them to `aors`) or when writing the plan.
   */
  prepareNewAors(wanted: Map<string, AorIdentity>, aors: Map<string, AorState>): Promise<() => number>;
  /** Live contact labels of AORs whose counter may meet them (wrapped, or about to). */
  loadLiveClabels(aors: AorState[]): Promise<Map<string, Set<number>>>;
  /** Shared targets: the current version of each of these target rows, locked. */
  lockedVersions(ids: bigint[]): Promise<Map<bigint, BindingVersion>>;
  /** Shared targets: the bindings that hold these contact ids in the state (id -> binding key). */
  idHolders(ids: bigint[]): Promise<Map<bigint, string>>;
  /**
   * Writes the plan: deletes, updates, inserts (a planned id held by a row ulbridge did not write
   * is relabelled through the planner, never overwritten), AOR counters, binding states. Writes
   * whose result is not needed may be held back until flush() or commit().
   */
  writePlan(plan: Plan, planner: Planner, ctx: PlanContext): Promise<void>;
  /** TRUNCATE of a source: every binding of that source in this log partition is gone. */
  truncate(event: RegistrationEvent, partition: number): Promise<void>;
  /** Target rows as they stand in this transaction (targets that push to a registrar cluster). */
  readImages(selection: ImageSelection): Promise<RowImage[]>;
}

export interface PlanContext {
  aors: Map<string, AorState>;
  liveClabels: Map<string, Set<number>>;
  /** Contact ids as stored before this segment (the planner changes the states in place). */
  storedIds: Map<string, bigint>;
}

/**
 * Applies one batch of one registration-log partition to one target in a single transaction:
 * target rows, label state, binding positions and the partition's next offset commit together.
 * The offsets row is locked first, so two instances given the same partition serialise and the
 * later one skips what the earlier one applied; a batch fetched from above the stored offset is
 * not applied at all (batchPosition).
 */
export async function applyBatch(session: ApplySession, batch: BatchInput): Promise<BatchResult> {
  const result = emptyBatchResult();
  if (batch.messages.length === 0) return result;
  if (!Number.isInteger(batch.partition)) throw new Error(`partition ${batch.partition} is not an integer`);
  try {
    // The bindings of every keyed record, read with the offsets lock: the first segment's reads
    // (normally the only one) in the same round trip.
    const asked = new Set<string>();
    for (const m of batch.messages) if (m.key !== null) asked.add(m.key.toString('utf8'));
    const { stored, bindings: read } = await session.begin(batch.topic, batch.partition, [...asked]);
    const position = batchPosition(batch, stored);
    if (position.gap) {
      await session.rollback();
      result.resumeAt = stored.toString();
      return result;
    }
    const { steps } = splitBatch(batch.messages, stored, result);
    for (const [i, step] of steps.entries()) {
      if (i > 0) await session.flush(); // the previous step's writes, before this step reads
      if (step.kind === 'segment') await applySegment(session, batch, step.items, result, i === 0 && read ? { asked, read } : null);
      else {
        if (session.target.push) {
          const gone = await session.readImages({ source: step.event.source.name, partition: batch.partition });
          for (const row of gone) result.changes.push({ op: 'delete', row });
        }
        await session.truncate(step.event, batch.partition);
        result.applied++;
      }
    }
    // Dead letters are sent before COMMIT, so a crash can only duplicate them.
    if (result.deadLetters.length > 0 && batch.deadLetter) await batch.deadLetter(result.deadLetters);
    if (position.next !== null) result.nextOffset = position.next.toString();
    await session.commit(batch.topic, batch.partition, position.next);
    return result;
  } catch (e) {
    await session.rollback().catch(() => undefined);
    throw e;
  }
}

/**
 * Applies one segment. `begun`: the bindings begin() read (the batch's first segment: nothing has
 * written since), used when they cover the segment's bindings; otherwise they are read here.
 */
async function applySegment(
  session: ApplySession,
  batch: BatchInput,
  segment: SegmentItem[],
  result: BatchResult,
  begun: { asked: Set<string>; read: Map<string, BindingState> } | null,
): Promise<void> {
  if (segment.length === 0) return;
  const { target } = session;
  const bindingKeys = [...new Set(segment.map((d) => d.binding))];
  const bindings =
    begun && bindingKeys.every((k) => begun.asked.has(k)) ? only(begun.read, bindingKeys) : await session.loadBindings(bindingKeys);
  const storedIds = new Map<string, bigint>();
  for (const b of bindings.values()) if (b.contactId !== null) storedIds.set(b.binding, b.contactId);
  const links = target.shared ? await session.loadLinks(bindingKeys.filter((b) => !bindings.has(b))) : new Map<string, bigint>();

  const identity = session.aorIdentity();
  // Every AOR the segment touches; the identity of those an UPSERT may create.
  const aorKeys = new Set<string>();
  const wanted = new Map<string, AorIdentity>();
  for (const b of bindings.values()) if (b.aor !== null) aorKeys.add(b.aor);
  const eventsPerAor = new Map<string, number>();
  for (const { event } of segment) {
    const reg = event?.registration;
    if (!reg || reg.username === '') continue;
    const id = identity(reg.username, reg.domain);
    eventsPerAor.set(id.key, (eventsPerAor.get(id.key) ?? 0) + 1);
    if (event.op === 'UPSERT' && !(target.useDomain && !reg.domain)) {
      aorKeys.add(id.key);
      wanted.set(id.key, id);
    }
  }
  const aors = await session.lockAors([...aorKeys]);
  const takeRlabel = await session.prepareNewAors(wanted, aors);
  const mayMeetLiveLabels = [...aors.values()].filter((a) => a.wrapped || a.nextClabel + (eventsPerAor.get(a.aor) ?? 0) > CLABEL_MASK);
  const liveClabels = await session.loadLiveClabels(mayMeetLiveLabels);

  const planner = new Planner({ target, now: batch.now, bindings, aors, liveClabels, aorIdentity: identity, takeRlabel });
  planSegment(planner, segment, batch.partition, result, links);
  const plan = planner.plan;
  if (target.shared) {
    result.kept += await settleConflicts(session, plan, planner.reinserts());
    await relabelHeldIds(session, plan, planner);
  }
  const deleted = target.push && plan.deletes.size > 0 ? await session.readImages({ ids: [...plan.deletes] }) : [];
  await session.writePlan(plan, planner, { aors, liveClabels, storedIds });
  if (target.push) {
    await session.flush();
    await collectChanges(session, plan, deleted, result.changes);
  }
  result.applied += plan.applied;
  result.stale += plan.stale;
}

/** The entries of `map` under these keys. */
function only<V>(map: Map<string, V>, keys: string[]): Map<string, V> {
  const out = new Map<string, V>();
  for (const k of keys) {
    const v = map.get(k);
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

/**
 * The rows this segment deleted (read before the DELETE), then those it inserted or updated, read
 * back after the writes (ids relabelled on a clash are final by then): what the cluster push sends.
 */
async function collectChanges(session: ApplySession, plan: Plan, deleted: RowImage[], into: RowChange[]): Promise<void> {
  for (const row of deleted) into.push({ op: 'delete', row });
  const written = new Map<bigint, 'insert' | 'update'>();
  for (const r of plan.updates.values()) written.set(r.contactId, 'update');
  for (const r of plan.inserts.values()) written.set(r.contactId, 'insert');
  if (written.size === 0) return;
  for (const row of await session.readImages({ ids: [...written.keys()] })) into.push({ op: written.get(row.contactId)!, row });
}

/** Rounds of relabelling a planned id that another binding holds before giving up (each round takes fresh labels). */
const MAX_HELD_ROUNDS = 64;

/**
 * Shared targets: a planned new id that another binding already holds takes the AOR's next free
 * label instead. The planner's counters pass every label they hand out, but a binding that
 * adopted a registrar's row holds the id the registrar chose, under the AOR's record label when
 * the registrar had loaded ulbridge's rows; state written before adopting moved the counter
 * (Planner.adopt) may hold such an id above it. While that row is in the target the INSERT's
 * clash check finds it; once it is gone (expired) only the state shows it.
 */
async function relabelHeldIds(session: ApplySession, plan: Plan, planner: Planner): Promise<void> {
  let pending = [...plan.inserts.keys()];
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_HELD_ROUNDS) {
      throw new Error(`could not find contact ids no other binding holds for ${pending.length} bindings after ${MAX_HELD_ROUNDS} rounds`);
    }
    const holders = await session.idHolders(pending.map((b) => plan.inserts.get(b)!.contactId));
    pending = pending.filter((b) => {
      const holder = holders.get(plan.inserts.get(b)!.contactId);
      return holder !== undefined && holder !== b;
    });
    for (const b of pending) planner.relabel(b);
  }
}

/**
 * The conflict rule on a shared target (the registrar writes it too): a planned update is written
 * only if its change is newer than the row's current version, and a planned delete only if the row
 * is not newer than the deleted state (a binding that still holds the kept row's id is marked as
 * having its row); an update whose row is not there (the registrar deleted it meanwhile, or a
 * binding's expired row never came back) becomes an insert (the binding is live on the legacy
 * side). Returns how many changes were not written.
 */
async function settleConflicts(session: ApplySession, plan: Plan, reinserts: Array<[string, PlannedRow]>): Promise<number> {
  // A binding re-inserting the id it held: if the row is there again, it is an update of that row.
  for (const [binding, row] of reinserts) {
    plan.inserts.delete(binding);
    plan.updates.set(binding, row);
  }
  const ids = [...plan.deletes, ...[...plan.updates.values()].map((r) => r.contactId)];
  if (ids.length === 0) return 0;
  const current = await session.lockedVersions(ids);
  let kept = 0;
  for (const id of [...plan.deletes]) {
    const now = current.get(id);
    const by = plan.deleteVersions.get(id);
    if (!now) plan.deletes.delete(id);
    else if (by && isNewer(now, by)) {
      plan.deletes.delete(id);
      kept++;
      // A binding that expired on the legacy side still holds the id: its row stays, so the
      // binding's next change must update it (in place, by the rule), not insert it again.
      for (const b of plan.bindings.values()) if (b.contactId === id) b.inTarget = true;
    }
  }
  for (const [binding, row] of [...plan.updates]) {
    const now = current.get(row.contactId);
    if (!now) {
      plan.updates.delete(binding);
      plan.inserts.set(binding, row);
    } else if (!isNewer(row.version, now)) {
      plan.updates.delete(binding);
      kept++;
    }
  }
  return kept;
}
