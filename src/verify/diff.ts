import type { DbConnection } from '../db/connection.js';
import { checkLocationTable } from '../db/locationRows.js';
import { openDb } from '../db/open.js';
import { parseTableName } from '../db/table.js';
import { parseDbUrl, type DbTarget } from '../db/url.js';
import type { CharSignedness } from '../opensips/coreHash.js';
import { slotCount } from '../opensips/hashSize.js';
import { releaseProfile, type ReleaseName } from '../opensips/releases.js';
import { isUlbridgeError, UlbridgeError } from '../ops/errors.js';
import { BINDING_FIELDS, readBindingSet, toTuple, type BindingSet, type BindingTuple } from './bindingSet.js';
import { checkTimeZone, wallClock } from './expiry.js';

/**
 * `ulbridge diff`: two location tables (any release, PostgreSQL or MySQL/MariaDB) compared as
 * multisets of bindings in canonical form (src/verify/bindingSet.ts), ids excluded, plus the live
 * bindings per usrloc hash slot on each side.
 *
 * Memory: each side is held as one map entry per distinct live binding (its canonical JSON, about
 * 240 bytes for typical rows; 415 bytes of heap per entry measured), so 1 GB of heap holds about
 * 1.2 million bindings on each side. Sorting in SQL and merging two ordered streams would make it
 * flat, but the order would have to be the canonical form's order, which SQL cannot produce across
 * dialects and releases (user %-unescaping and lower-casing, DATETIME zones, FL_MEM): see
 * docs/diff-status.md.
 */

export interface DiffSide {
  /** Database URL (postgres://, mysql://, mariadb://). */
  url: string;
  table: string;
  release: string;
  /** Zone of the registrar that wrote the DATETIME columns. */
  timeZone: string;
  /** Registrar case_sensitive: when false the user part is compared lower-cased. */
  caseSensitive: boolean;
}

export interface DiffOptions {
  source: DiffSide;
  target: DiffSide;
  /** hash_size whose slots the per-slot counts use. */
  hashSize: number;
  useDomain: boolean;
  signedness: CharSignedness;
  /** Unix seconds at which both sides are judged expired. */
  now: number;
  /** Example bindings per kind of difference (0 = none). */
  details: number;
}

export interface SideSummary {
  db: string;
  dialect: 'postgres' | 'mysql';
  table: string;
  release: ReleaseName;
  timeZone: string;
  caseSensitive: boolean;
  rows: number;
  live: number;
  expired: number;
}

export interface SlotStats {
  /** Slots holding at least one live binding. */
  usedSlots: number;
  /** Most live bindings in one slot. */
  maxPerSlot: number;
}

export interface SlotDifference {
  slot: number;
  source: number;
  target: number;
}

export interface ChangedBinding {
  username: string | number | null;
  domain: string | number | null;
  contact: string | number | null;
  /** Only the fields that differ. */
  fields: Record<string, { source: string | number | null; target: string | number | null }>;
}

export interface DiffReport {
  equal: boolean;
  now: number;
  source: SideSummary;
  target: SideSummary;
  /** Live bindings of the source with no equal binding in the target (with multiplicity). */
  onlyInSource: number;
  onlyInTarget: number;
  /** Pairs among those with the same AOR and contact but other fields different. */
  changed: number;
  perSlot: {
    hashSize: number;
    slots: number;
    useDomain: boolean;
    signedness: CharSignedness;
    source: SlotStats;
    target: SlotStats;
    /** Number of slots whose live-binding counts differ. */
    differing: number;
    /** The first MAX_SLOT_DIFFERENCES of them, by slot. */
    differences: SlotDifference[];
  };
  /** Up to `details` each; onlyIn* list bindings not already shown as changed. */
  examples: { onlyInSource: BindingTuple[]; onlyInTarget: BindingTuple[]; changed: ChangedBinding[] };
}

export const MAX_SLOT_DIFFERENCES = 100;

// ---------------------------------------------------------------------------------------------
// Pure parts

export function slotStats(counts: Uint32Array): SlotStats {
  let used = 0;
  let max = 0;
  for (const c of counts) {
    if (c > 0) used++;
    if (c > max) max = c;
  }
  return { usedSlots: used, maxPerSlot: max };
}

/** Slots whose counts differ: how many, and the first `limit` of them in slot order. */
export function slotDifferences(
  a: Uint32Array,
  b: Uint32Array,
  limit = MAX_SLOT_DIFFERENCES,
): { differing: number; differences: SlotDifference[] } {
  if (a.length !== b.length) throw new Error(`per-slot arrays differ in size (${a.length} vs ${b.length})`);
  let differing = 0;
  const differences: SlotDifference[] = [];
  for (let slot = 0; slot < a.length; slot++) {
    if (a[slot] === b[slot]) continue;
    differing++;
    if (differences.length < limit) differences.push({ slot, source: a[slot]!, target: b[slot]! });
  }
  return { differing, differences };
}

function total(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** Keys of `a` beyond their multiplicity in `b`, each repeated as often as it is extra. */
function extras(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, c] of a) {
    const extra = c - (b.get(k) ?? 0);
    for (let i = 0; i < extra; i++) out.push(k);
  }
  return out;
}

const identity = (t: BindingTuple): string => JSON.stringify([t.username, t.domain, t.contact]);

/** The fields in which two tuples differ. */
export function changedFields(s: BindingTuple, t: BindingTuple): ChangedBinding['fields'] {
  const fields: ChangedBinding['fields'] = {};
  for (const f of BINDING_FIELDS) if (s[f] !== t[f]) fields[f] = { source: s[f], target: t[f] };
  return fields;
}

/** Compares two binding sets read with per-slot counts of the same hash_size. */
export function compareBindingSets(
  source: BindingSet,
  target: BindingSet,
  o: { hashSize: number; useDomain: boolean; signedness: CharSignedness; details: number },
): Pick<DiffReport, 'equal' | 'onlyInSource' | 'onlyInTarget' | 'changed' | 'perSlot' | 'examples'> {
  const s = extras(source.live, target.live);
  const t = extras(target.live, source.live);
  // Pair differences of one binding (same AOR and contact): "changed", shown field by field.
  const byIdentity = new Map<string, number[]>();
  const targetTuples = t.map(toTuple);
  targetTuples.forEach((tuple, i) => {
    const id = identity(tuple);
    const list = byIdentity.get(id);
    if (list) list.push(i);
    else byIdentity.set(id, [i]);
  });
  const pairedTarget = new Uint8Array(t.length);
  const unpairedSource: string[] = [];
  let changed = 0;
  const changedExamples: ChangedBinding[] = [];
  for (const k of s) {
    const tuple = toTuple(k);
    const j = byIdentity.get(identity(tuple))?.shift();
    if (j === undefined) {
      unpairedSource.push(k);
      continue;
    }
    pairedTarget[j] = 1;
    changed++;
    if (changedExamples.length < o.details) {
      changedExamples.push({
        username: tuple.username,
        domain: tuple.domain,
        contact: tuple.contact,
        fields: changedFields(tuple, targetTuples[j]!),
      });
    }
  }
  const unpairedTarget = t.filter((_k, i) => pairedTarget[i] === 0);
  const slots = slotCount(o.hashSize);
  const a = source.perSlot ?? new Uint32Array(slots);
  const b = target.perSlot ?? new Uint32Array(slots);
  const sd = slotDifferences(a, b);
  const firstDistinct = (keys: string[]): BindingTuple[] => [...new Set(keys)].slice(0, o.details).map(toTuple);
  return {
    equal: s.length === 0 && t.length === 0,
    onlyInSource: s.length,
    onlyInTarget: t.length,
    changed,
    perSlot: {
      hashSize: o.hashSize,
      slots,
      useDomain: o.useDomain,
      signedness: o.signedness,
      source: slotStats(a),
      target: slotStats(b),
      differing: sd.differing,
      differences: sd.differences,
    },
    examples: { onlyInSource: firstDistinct(unpairedSource), onlyInTarget: firstDistinct(unpairedTarget), changed: changedExamples },
  };
}

export function sideSummary(side: DiffSide, db: DbTarget, release: ReleaseName, set: BindingSet): SideSummary {
  return {
    db: db.redacted,
    dialect: db.dialect,
    table: side.table,
    release,
    timeZone: side.timeZone,
    caseSensitive: side.caseSensitive,
    rows: set.rows,
    live: total(set.live),
    expired: set.expired,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Re-words a db-layer error (which names --db / --table) for the side's own flags. */
function forSide(e: unknown, which: 'source' | 'target'): unknown {
  if (!isUlbridgeError(e)) return e;
  const msg = e.message
    .replace(/--db\b/g, `--${which}`)
    .replace(/--table\b/g, `--${which}-table`)
    .replace(/--release\b/g, `--${which}-release`)
    .replace(/--timezone\b/g, `--${which}-timezone`)
    .replace(/pick --\w+-release/g, `pick --${which}-release`);
  return new UlbridgeError(e.code, `${which}: ${msg}`, e.exitCode, { cause: e });
}

interface PreparedSide {
  side: DiffSide;
  db: DbTarget;
  release: ReleaseName;
}

function prepare(side: DiffSide, which: 'source' | 'target'): PreparedSide {
  try {
    const profile = releaseProfile(side.release);
    parseTableName(side.table);
    checkTimeZone(side.timeZone);
    return { side, db: parseDbUrl(side.url), release: profile.name };
  } catch (e) {
    throw forSide(e, which);
  }
}

async function readSide(p: PreparedSide, which: 'source' | 'target', o: DiffOptions): Promise<BindingSet> {
  let conn: DbConnection | null = null;
  try {
    conn = await openDb(p.db);
    await checkLocationTable(conn, parseTableName(p.side.table), releaseProfile(p.release));
    return await readBindingSet(conn, {
      table: p.side.table,
      release: p.release,
      timeZone: p.side.timeZone,
      caseSensitive: p.side.caseSensitive,
      now: o.now,
      slots: { hashSize: o.hashSize, useDomain: o.useDomain, signedness: o.signedness },
    });
  } catch (e) {
    throw forSide(e, which);
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

export async function runDiff(o: DiffOptions): Promise<DiffReport> {
  const src = prepare(o.source, 'source');
  const tgt = prepare(o.target, 'target');
  const [a, b] = await Promise.allSettled([readSide(src, 'source', o), readSide(tgt, 'target', o)]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  const cmp = compareBindingSets(a.value, b.value, o);
  return {
    equal: cmp.equal,
    now: o.now,
    source: sideSummary(o.source, src.db, src.release, a.value),
    target: sideSummary(o.target, tgt.db, tgt.release, b.value),
    onlyInSource: cmp.onlyInSource,
    onlyInTarget: cmp.onlyInTarget,
    changed: cmp.changed,
    perSlot: cmp.perSlot,
    examples: cmp.examples,
  };
}

// ---------------------------------------------------------------------------------------------
// Human summary

function sideLine(s: SideSummary): string {
  const dialect = s.dialect === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB';
  return `${dialect} ${s.db} table ${s.table} (OpenSIPS ${s.release}, ${s.timeZone}, case_sensitive ${s.caseSensitive ? 1 : 0})`;
}

function tupleText(t: BindingTuple): string {
  return BINDING_FIELDS.filter((f) => t[f] !== null)
    .map((f) => `${f}=${JSON.stringify(t[f])}`)
    .join(' ');
}

export function renderDiffHuman(r: DiffReport): string {
  const out: string[] = [];
  out.push('ulbridge diff: live bindings compared field by field, ids excluded');
  out.push(`  source: ${sideLine(r.source)}`);
  out.push(`  target: ${sideLine(r.target)}`);
  out.push(`  expiry as of ${wallClock(r.now, 'UTC')} UTC`);
  out.push('');
  const row = (label: string, a: number | string, b: number | string = ''): string =>
    `${label.padEnd(28)}${String(a).padStart(10)}${String(b).padStart(10)}`;
  out.push(row('', 'source', 'target'));
  out.push(row('rows', r.source.rows, r.target.rows));
  out.push(row('live bindings', r.source.live, r.target.live));
  out.push(row('expired (not compared)', r.source.expired, r.target.expired));
  out.push(row('only on this side', r.onlyInSource, r.onlyInTarget));
  out.push(row('  of which changed', r.changed, r.changed));
  const p = r.perSlot;
  out.push(row(`slots used (of ${p.slots})`, p.source.usedSlots, p.target.usedSlots));
  out.push(row('most bindings in a slot', p.source.maxPerSlot, p.target.maxPerSlot));
  out.push(`slots whose counts differ (hash_size ${p.hashSize}, use_domain ${p.useDomain ? 1 : 0}): ${p.differing}`);
  if (p.differences.length > 0) {
    out.push(
      `  ${p.differences.map((d) => `slot ${d.slot}: ${d.source} vs ${d.target}`).join(', ')}${p.differing > p.differences.length ? ', ...' : ''}`,
    );
  }
  if (r.examples.changed.length > 0) {
    out.push('');
    out.push('changed bindings (source -> target):');
    for (const c of r.examples.changed) {
      const fields = Object.entries(c.fields).map(([f, v]) => `${f} ${JSON.stringify(v.source)} -> ${JSON.stringify(v.target)}`);
      out.push(`  ${JSON.stringify(c.username)}@${JSON.stringify(c.domain)} ${JSON.stringify(c.contact)}: ${fields.join(', ')}`);
    }
  }
  for (const [label, list] of [
    ['only in source (not a change of a binding above)', r.examples.onlyInSource],
    ['only in target (not a change of a binding above)', r.examples.onlyInTarget],
  ] as const) {
    if (list.length === 0) continue;
    out.push('');
    out.push(`${label}:`);
    for (const t of list) out.push(`  ${tupleText(t)}`);
  }
  out.push('');
  if (r.equal) out.push(`result: equal: ${r.source.live} live binding${r.source.live === 1 ? '' : 's'} on each side`);
  else {
    const parts = [`${r.onlyInSource} only in source`, `${r.onlyInTarget} only in target`];
    if (r.changed) parts.push(`${r.changed} changed`);
    out.push(`result: different: ${parts.join(', ')}`);
  }
  return out.join('\n');
}
