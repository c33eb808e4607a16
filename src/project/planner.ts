import { packContactId, CLABEL_MASK } from '../opensips/contactId.js';
import { comparePositions, type Registration, type RegistrationEvent, type SourcePosition } from '../log/event.js';
import { versionOf, type BindingVersion } from '../log/version.js';
import { aorIdentity, type AorIdentity, type Target } from './target.js';
import { targetRowValues, type CellValue } from './targetRow.js';

/** ulbridge's record of one binding in one target (table `bindings` of the state schema). */
export interface BindingState {
  binding: string;
  sourceName: string;
  sourceRowKey: bigint;
  logPartition: number;
  /** null once deleted: the id is released, the position is kept so older events stay ignored. */
  aor: string | null;
  clabel: number | null;
  contactId: bigint | null;
  /** Whether a target row with contactId exists (false while the binding is expired). */
  inTarget: boolean;
  position: SourcePosition;
}

/** Label state of one AOR in one target (table `aors`). Kept after its last binding goes. */
export interface AorState {
  aor: string;
  aorhash: number;
  slot: number;
  rlabel: number;
  nextClabel: number;
  /** next_clabel has wrapped past 16383 at least once: live labels must then be skipped. */
  wrapped: boolean;
}

export interface PlannedRow {
  contactId: bigint;
  values: CellValue[];
  /** Version of the change the row carries (the conflict rule of shared targets compares it). */
  version: BindingVersion;
}

/** What one batch changes; the applier turns it into set-based SQL. */
export interface Plan {
  inserts: Map<string, PlannedRow>; // by binding
  updates: Map<string, PlannedRow>;
  deletes: Set<bigint>;
  /** Of the deletes, the version of the change that removes each row (none for tombstones). */
  deleteVersions: Map<bigint, BindingVersion>;
  bindings: Map<string, BindingState>; // every binding whose state changed
  aors: Map<string, AorState>; // every AOR whose state changed
  createdAors: Set<string>; // of those, the AORs this batch created
  /** Events skipped because the binding already holds this or a later source position. */
  stale: number;
  /** Events applied (their effect is in the plan). */
  applied: number;
  /** Events whose AOR cannot be loaded by OpenSIPS (empty username, or empty domain with use_domain). */
  unloadable: Array<{ binding: string; reason: string }>;
}

export interface PlannerInput {
  target: Target;
  /** Unix seconds; an UPSERT with 0 < expires <= now is kept in state but not written. */
  now: number;
  bindings: Map<string, BindingState>;
  aors: Map<string, AorState>;
  /**
   * Contact labels of live bindings, per AOR, to skip once a counter wraps. The applier loads them
   * only for AORs that have wrapped or may wrap in this batch; before its first wrap an AOR's
   * counter is above every label it handed out.
   */
  liveClabels: Map<string, Set<number>>;
  /** Hands out a fresh record label for a new AOR. */
  takeRlabel: () => number;
  /** aorIdentity for this target, e.g. memoised per batch (aorIdentityCache); default aorIdentity. */
  aorIdentity?: (username: string, domain: string | null) => AorIdentity;
}

export function emptyPlan(): Plan {
  return {
    inserts: new Map(),
    updates: new Map(),
    deletes: new Set(),
    deleteVersions: new Map(),
    bindings: new Map(),
    aors: new Map(),
    createdAors: new Set(),
    stale: 0,
    applied: 0,
    unloadable: [],
  };
}

/** Whether a stored position came from a snapshot read (see the Position doc in the schema). */
function isSnapshotPosition(p: SourcePosition, connector: RegistrationEvent['source']['connector']): boolean {
  return connector === 'POSTGRESQL' ? p.minor === 0n : p.seq === 0n;
}

/**
 * Whether an event is newer than the binding's stored position. Positions order as tuples, with one
 * exception: a streamed change always supersedes a snapshot read. Debezium streams every change
 * committed after its snapshot point, but a PostgreSQL change keeps the LSN it was written at, and a
 * transaction in flight at the snapshot point wrote below the snapshot's LSN: by the tuple alone
 * its update or delete would look older than the snapshot read it follows.
 */
export function supersedes(event: RegistrationEvent, stored: SourcePosition): boolean {
  if (!event.source.snapshot && isSnapshotPosition(stored, event.source.connector)) return true;
  return comparePositions(event.source.position, stored) > 0;
}

/**
 * Applies events to the in-memory state of one batch, in log order, and records the net effect.
 * Source positions make it idempotent: an event at or below the binding's position is ignored.
 */
export class Planner {
  readonly plan = emptyPlan();
  /** Target-row state at the start of the batch, per binding touched: contact id present in the table. */
  private readonly initial = new Map<string, bigint | null>();
  /** The contact id each binding touched held at the start of the batch, with or without a row. */
  private readonly heldAtStart = new Map<string, bigint | null>();

  constructor(private readonly input: PlannerInput) {}

  /** Returns false when the event is stale (the binding already holds a later position). */
  apply(event: RegistrationEvent, logPartition: number, binding: string): boolean {
    const existing = this.input.bindings.get(binding);
    if (existing && !supersedes(event, existing.position)) {
      this.plan.stale++;
      return false;
    }
    if (!this.initial.has(binding)) {
      this.initial.set(binding, existing?.inTarget ? existing.contactId : null);
      this.heldAtStart.set(binding, existing?.contactId ?? null);
    }
    const state: BindingState = existing ?? {
      binding,
      sourceName: event.source.name,
      sourceRowKey: event.source.rowKey,
      logPartition,
      aor: null,
      clabel: null,
      contactId: null,
      inTarget: false,
      position: event.source.position,
    };
    state.position = event.source.position;
    state.logPartition = logPartition;
    this.input.bindings.set(binding, state);
    this.plan.bindings.set(binding, state);
    this.plan.applied++;

    if (event.op === 'DELETE' || !event.registration) {
      this.release(state);
    } else {
      this.upsert(state, event.registration);
    }
    this.reconcile(state, event.registration);
    return true;
  }

  /**
   * A tombstone of the log: the binding is gone. Right after its DELETE this changes nothing; when
   * compaction removed the DELETE, it is the delete. The binding keeps its last position.
   */
  tombstone(binding: string): void {
    const state = this.input.bindings.get(binding);
    if (!state || state.contactId === null) return;
    if (!this.initial.has(binding)) {
      this.initial.set(binding, state.inTarget ? state.contactId : null);
      this.heldAtStart.set(binding, state.contactId);
    }
    this.release(state);
    this.plan.bindings.set(binding, state);
    this.reconcile(state, null);
  }

  /**
   * Links a binding seen for the first time to a target row that already holds it: a row the
   * target's registrar wrote, which reverse sync copied into the legacy table (the legacy row's
   * change is this event). The binding takes that row's id instead of a new one, so the echo of a
   * reverse-synced insert updates the registrar's row (if newer) rather than duplicating it.
   * Call before apply() for the binding's first event. Returns false when the binding is known.
   */
  adopt(binding: string, contactId: bigint, event: RegistrationEvent, logPartition: number): boolean {
    const reg = event.registration;
    if (this.input.bindings.has(binding) || !reg || reg.username === '') return false;
    const id = this.input.aorIdentity
      ? this.input.aorIdentity(reg.username, reg.domain)
      : aorIdentity(this.input.target, reg.username, reg.domain);
    const aor = this.aorState(id.key, id.aorhash, id.slot);
    const clabel = Number(contactId & BigInt(CLABEL_MASK));
    const state: BindingState = {
      binding,
      sourceName: event.source.name,
      sourceRowKey: event.source.rowKey,
      logPartition,
      aor: aor.aor,
      clabel,
      contactId,
      inTarget: true,
      position: { major: 0n, minor: 0n, seq: 0n },
    };
    if (packContactId({ aorhash: aor.aorhash, rlabel: aor.rlabel, clabel }) === contactId) {
      // The registrar gave this contact a label under the AOR's own record label (it loaded rows
      // ulbridge wrote): the counter must pass it, or a later contact of the AOR would be given
      // the id this binding now holds. Once wrapped, live labels are loaded and skipped anyway.
      this.input.liveClabels.get(aor.aor)?.add(clabel);
      if (!aor.wrapped && clabel >= aor.nextClabel) {
        if (clabel === CLABEL_MASK) aor.wrapped = true;
        aor.nextClabel = (clabel + 1) & CLABEL_MASK;
        this.plan.aors.set(aor.aor, aor);
      }
    }
    this.input.bindings.set(binding, state);
    this.plan.bindings.set(binding, state);
    this.initial.set(binding, contactId);
    this.heldAtStart.set(binding, contactId);
    return true;
  }

  /** Frees the binding's labels (on delete). */
  private release(state: BindingState): void {
    if (state.aor !== null && state.clabel !== null) this.input.liveClabels.get(state.aor)?.delete(state.clabel);
    state.aor = null;
    state.clabel = null;
    state.contactId = null;
    state.inTarget = false;
  }

  private upsert(state: BindingState, reg: Registration): void {
    const { target } = this.input;
    if (reg.username === '' || (target.useDomain && !reg.domain)) {
      this.plan.unloadable.push({
        binding: state.binding,
        reason: reg.username === '' ? 'empty username record' : 'empty domain with use_domain=1',
      });
      this.release(state);
      return;
    }
    const id = this.input.aorIdentity ? this.input.aorIdentity(reg.username, reg.domain) : aorIdentity(target, reg.username, reg.domain);
    if (state.aor !== null && state.aor !== id.key) this.release(state); // AOR changed: a new binding
    if (state.aor === null) {
      const aor = this.aorState(id.key, id.aorhash, id.slot);
      const clabel = this.takeClabel(aor);
      state.aor = aor.aor;
      state.clabel = clabel;
      state.contactId = packContactId({ aorhash: aor.aorhash, rlabel: aor.rlabel, clabel });
    }
    const expired = reg.expires !== 0n && reg.expires <= BigInt(this.input.now);
    state.inTarget = !expired;
  }

  /** Records the net change of the binding's target row against the batch's starting point. */
  private reconcile(state: BindingState, reg: Registration | null): void {
    const before = this.initial.get(state.binding) ?? null;
    const after = state.inTarget ? state.contactId : null;
    const { plan } = this;
    plan.inserts.delete(state.binding);
    plan.updates.delete(state.binding);
    if (before !== null && before !== after) {
      plan.deletes.add(before);
      if (reg) plan.deleteVersions.set(before, versionOf(reg));
      else plan.deleteVersions.delete(before);
    } else if (before !== null) {
      plan.deletes.delete(before);
      plan.deleteVersions.delete(before);
    }
    if (after !== null && reg) {
      const row = { contactId: after, values: targetRowValues(this.input.target, after, reg), version: versionOf(reg) };
      if (before === after) plan.updates.set(state.binding, row);
      else plan.inserts.set(state.binding, row);
    }
  }

  private aorState(key: string, aorhash: number, slot: number): AorState {
    let aor = this.input.aors.get(key);
    if (!aor) {
      aor = { aor: key, aorhash, slot, rlabel: this.input.takeRlabel(), nextClabel: 0, wrapped: false };
      this.input.aors.set(key, aor);
      this.plan.aors.set(key, aor);
      this.plan.createdAors.add(key);
    }
    return aor;
  }

  /**
   * Planned inserts of an id the binding already held (its row was absent: expired): on a shared
   * target such a row may be back (the registrar wrote it), and is then the binding's own row.
   */
  reinserts(): Array<[binding: string, row: PlannedRow]> {
    return [...this.plan.inserts].filter(([binding, row]) => this.heldAtStart.get(binding) === row.contactId);
  }

  /** Next free contact label of the AOR, skipping labels held by live bindings. */
  takeClabel(aor: AorState): number {
    let live = this.input.liveClabels.get(aor.aor);
    if (!live) {
      live = new Set();
      this.input.liveClabels.set(aor.aor, live);
    }
    if (live.size > CLABEL_MASK) throw new Error(`AOR ${aor.aor} has more than 16384 live contacts: no contact label left`);
    let clabel = aor.nextClabel;
    while (live.has(clabel)) clabel = (clabel + 1) & CLABEL_MASK;
    live.add(clabel);
    if (clabel < aor.nextClabel || clabel === CLABEL_MASK) aor.wrapped = true; // passed 16383 -> 0
    aor.nextClabel = (clabel + 1) & CLABEL_MASK;
    this.plan.aors.set(aor.aor, aor);
    return clabel;
  }

  /**
   * A planned insert hit a row ulbridge does not own (a registrar's row with the same id): give the
   * binding the AOR's next free contact label instead. Returns the new row.
   */
  relabel(binding: string): PlannedRow {
    const state = this.input.bindings.get(binding)!;
    const row = this.plan.inserts.get(binding)!;
    const aor = this.input.aors.get(state.aor!)!;
    const clabel = this.takeClabel(aor); // the clashing label stays marked as taken
    state.clabel = clabel;
    state.contactId = packContactId({ aorhash: aor.aorhash, rlabel: aor.rlabel, clabel });
    row.contactId = state.contactId;
    row.values[0] = state.contactId;
    return row;
  }
}
