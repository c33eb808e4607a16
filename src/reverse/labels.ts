import type pg from 'pg';
import type { RegistrationEvent } from '../log/event.js';
import { CLABEL_MASK, packContactId } from '../opensips/contactId.js';
import { Planner, type AorState } from '../project/planner.js';
import { FIRST_RLABEL, ident } from '../project/stateSchema.js';
import { aorIdentityCache, type AorIdentity } from '../project/target.js';
import type { LegacyTable } from './legacyTable.js';
import type { LegacyAors, ReverseTargetSession } from './target.js';

/**
 * Contact ids for the rows reverse sync inserts into a 2.2+ legacy table, by the projection's own
 * allocator (src/project/planner.ts) with the legacy registrar as its "target":
 *
 * - one record label per AOR, from a sequence of its own starting at 131072, never reused, so
 *   unique across the whole legacy table (for every hash_size) and every id is above the 2^31-1
 *   MAXVALUE of OpenSIPS's PostgreSQL contact_id sequence: a DB-only legacy registrar can never
 *   take one of them;
 * - contact labels counting up per AOR, skipping the AOR's live ones once its counter wrapped;
 * - an id some other writer holds (the legacy registrar's own row, or a MySQL AUTO_INCREMENT that
 *   followed one of ours) is never overwritten: the binding takes the AOR's next free label.
 *
 * The label state lives beside the projection's, in the target's state schema (`legacy_aors`,
 * `legacy_rlabel_seq`), and commits with reverse sync's links, before the legacy transaction:
 * a crash in between wastes labels, never hands one out twice.
 */

export function reverseStateSql(schema: string): string[] {
  const s = ident(schema);
  return [
    `CREATE SEQUENCE IF NOT EXISTS ${s}.legacy_rlabel_seq AS bigint START ${FIRST_RLABEL} MINVALUE ${FIRST_RLABEL} MAXVALUE 4294967295 NO CYCLE`,
    `CREATE TABLE IF NOT EXISTS ${s}.legacy_aors (
       aor text PRIMARY KEY,
       aorhash integer NOT NULL,
       slot integer NOT NULL,
       rlabel bigint NOT NULL UNIQUE,
       next_clabel integer NOT NULL,
       wrapped boolean NOT NULL DEFAULT false
     )`,
  ];
}

/** Creates reverse sync's label state in the target's state schema (after ensureStateSchema). */
export async function ensureReverseState(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ulbridge-state:${schema}`]);
    for (const sql of reverseStateSql(schema)) await client.query(sql);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK');
    throw e;
  }
}

/** A legacy row to insert: the target registrar's change that creates it. */
export interface NewLegacyRow {
  /** The target row's contact id (the link's key). */
  targetId: bigint;
  event: RegistrationEvent;
}

/** New legacy rows with contact ids planned (allocateIds), not inserted yet. */
export interface Allocation {
  /** The rows to insert: target contact id -> the legacy contact id planned for it. */
  planned: ReadonlyMap<bigint, bigint>;
  /** Target contact ids not written: expired, or an AOR the legacy registrar cannot load. */
  skipped: bigint[];
  /** The AORs whose label state changed, to save with the links (relabelling changes them further). */
  aors: readonly AorState[];
  /**
   * Inserts the rows, in the legacy transaction the caller opened. A row whose id some other
   * writer holds takes its AOR's next free contact label and is inserted again; resolves to those
   * rows, target contact id -> the legacy contact id they got instead of the planned one.
   */
  insert(): Promise<Map<bigint, bigint>>;
}

/** Label state read for a set of AORs before the rows to insert were decided (read ahead). */
export interface LabelsAhead extends LegacyAors {
  /** The AOR keys it was read for. */
  keys: ReadonlySet<string>;
  /** The legacy registrar's AOR identities, memoised while reading (allocateIds asks for the same ones). */
  identity: (username: string, domain: string | null) => AorIdentity;
}

/**
 * The legacy registrar's AOR identities of these registrations, by key, with how many each has;
 * `identity` is the registrar's (aorIdentityCache), shared with the planner that allocates for them.
 */
function aorsOf(
  legacy: LegacyTable,
  events: readonly RegistrationEvent[],
  identity: (username: string, domain: string | null) => AorIdentity,
): { wanted: Map<string, AorIdentity>; perAor: Map<string, number> } {
  const registrar = legacy.target;
  const perAor = new Map<string, number>();
  const wanted = new Map<string, AorIdentity>();
  for (const e of events) {
    const reg = e.registration!;
    if (reg.username === '' || (registrar.useDomain && !reg.domain)) continue;
    const id = identity(reg.username, reg.domain);
    perAor.set(id.key, (perAor.get(id.key) ?? 0) + 1);
    wanted.set(id.key, id);
  }
  return { wanted, perAor };
}

/**
 * Label state for the AORs of these registrations (the ones a batch will probably insert), read
 * while the batch before it is written. allocateIds uses it only if it covers every AOR the
 * batch inserts; record labels drawn for AORs that get no row are wasted, never handed out twice.
 */
export async function readLabelsAhead(
  target: ReverseTargetSession,
  legacy: LegacyTable,
  events: readonly RegistrationEvent[],
): Promise<LabelsAhead> {
  const identity = aorIdentityCache(legacy.target);
  const { wanted } = aorsOf(legacy, events, identity);
  return { ...(await target.legacyAors(wanted)), keys: new Set(wanted.keys()), identity };
}

/**
 * Allocates contact ids for new legacy rows. Label state is read from the target's state schema
 * (either database kind), or taken from `ahead` when that was read for all these rows' AORs, and
 * returned, not saved (ReverseTargetSession.writeLinks/openLinks save it with the links).
 */
export async function allocateIds(
  target: ReverseTargetSession,
  legacy: LegacyTable,
  rows: readonly NewLegacyRow[],
  now: number,
  ahead: LabelsAhead | null = null,
): Promise<Allocation> {
  const registrar = legacy.target;
  const identity = ahead?.identity ?? aorIdentityCache(registrar);
  const { wanted, perAor } = aorsOf(
    legacy,
    rows.map((r) => r.event),
    identity,
  );
  // The label state of the target database's kind (src/reverse/target.ts): PostgreSQL draws the
  // new AORs' record labels from legacy_rlabel_seq, MySQL/MariaDB creates them with their labels.
  const covered = ahead !== null && [...wanted.keys()].every((k) => ahead.keys.has(k));
  const { aors, takeRlabel } = covered ? ahead : await target.legacyAors(wanted);
  // Live contact labels matter only once an AOR's counter can wrap: load them from the legacy table
  // (an AOR's ids with one record label are one contiguous range).
  const liveClabels = new Map<string, Set<number>>();
  const mayWrap = [...aors.values()].filter((a) => a.wrapped || a.nextClabel + (perAor.get(a.aor) ?? 0) > CLABEL_MASK);
  if (mayWrap.length > 0) {
    const ranges = mayWrap.map((a) => {
      const lo = packContactId({ aorhash: a.aorhash, rlabel: a.rlabel, clabel: 0 });
      return [lo, lo + BigInt(CLABEL_MASK)] as const;
    });
    const byBase = new Map(mayWrap.map((a, i) => [ranges[i]![0], a.aor]));
    for (const a of mayWrap) liveClabels.set(a.aor, new Set());
    for (const id of await legacy.idsInRanges(ranges)) {
      const base = id - (id & BigInt(CLABEL_MASK));
      const aor = byBase.get(base);
      if (aor !== undefined) liveClabels.get(aor)!.add(Number(id & BigInt(CLABEL_MASK)));
    }
  }
  const planner = new Planner({
    target: registrar,
    now,
    bindings: new Map(),
    aors,
    liveClabels,
    takeRlabel,
    aorIdentity: identity,
  });
  const bindings = rows.map((r) => `reverse:${r.targetId}`);
  const skipped: bigint[] = [];
  const planned = new Map<bigint, bigint>();
  const toInsert: Array<{ r: NewLegacyRow; binding: string }> = [];
  rows.forEach((r, i) => planner.apply(r.event, 0, bindings[i]!));
  rows.forEach((r, i) => {
    const binding = bindings[i]!;
    const row = planner.plan.inserts.get(binding);
    if (row === undefined) skipped.push(r.targetId);
    else {
      planned.set(r.targetId, row.contactId);
      toInsert.push({ r, binding });
    }
  });
  async function insert(): Promise<Map<bigint, bigint>> {
    const relabelled = new Map<bigint, bigint>();
    let pending = toInsert;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 64) throw new Error('reverse sync: contact ids kept clashing with rows of the legacy table');
      const rowsOf = pending.map((p) => planner.plan.inserts.get(p.binding)!);
      const clashed = await legacy.insertWithIds(rowsOf.map((row) => ({ contactId: row.contactId, values: row.values })));
      const retry: typeof pending = [];
      pending.forEach((p, i) => {
        if (!clashed.has(rowsOf[i]!.contactId)) return;
        // The clashing label stays taken.
        relabelled.set(p.r.targetId, planner.relabel(p.binding).contactId);
        retry.push(p);
      });
      pending = retry;
    }
    return relabelled;
  }
  return { planned, skipped, aors: [...planner.plan.aors.values()], insert };
}

/**
 * The statement that saves label state, with its parameters from $first on (saveLabelsParams); a
 * data-modifying CTE of the links statement, so both commit together.
 */
export function saveLabelsSql(s: string, first: number): string {
  const p = (i: number): string => `$${first + i}`;
  return `INSERT INTO ${s}.legacy_aors (aor, aorhash, slot, rlabel, next_clabel, wrapped)
     SELECT * FROM unnest(${p(0)}::text[], ${p(1)}::int[], ${p(2)}::int[], ${p(3)}::bigint[], ${p(4)}::int[], ${p(5)}::boolean[])
     ON CONFLICT (aor) DO UPDATE SET next_clabel = EXCLUDED.next_clabel, wrapped = EXCLUDED.wrapped
       WHERE legacy_aors.rlabel = EXCLUDED.rlabel`;
}

export function saveLabelsParams(aors: readonly AorState[]): unknown[] {
  return [
    aors.map((a) => a.aor),
    aors.map((a) => a.aorhash),
    aors.map((a) => a.slot),
    aors.map((a) => String(a.rlabel)),
    aors.map((a) => a.nextClabel),
    aors.map((a) => a.wrapped),
  ];
}
