import type { DbTarget } from '../db/url.js';
import type { ReleaseName } from '../opensips/releases.js';
import { wallClock } from './expiry.js';
import type { DuplicateIdExample, DuplicateIds, SharedLabelExample, SharedLabels } from './groups.js';
import { KV_STORE_WARNING, REJECT_CATEGORIES, REJECT_REASONS, type RejectCategory } from './reasons.js';
import type { RowExample, VerifyTally } from './tally.js';
import type { VerifyContext, VerifyOptions } from './verify.js';

/**
 * The verify report: one JSON document (`--json`) and the human summary, both built from the same
 * object. Counts are JSON numbers; contact ids are decimal strings.
 */
export interface VerifyReport {
  db: string;
  dialect: 'postgres' | 'mysql';
  table: string;
  release: ReleaseName;
  hashSize: number;
  slots: number;
  useDomain: boolean;
  signedness: 'signed' | 'unsigned';
  timezone: string;
  /** Unix seconds at which rows were judged expired. */
  now: number;
  tableVersion: {
    expected: number;
    /** table_version of the `version` row naming this table; null when there is none. */
    found: number | null;
    ok: boolean;
    /** What OpenSIPS logs before refusing to start, when not ok. */
    opensipsLog: string | null;
  };
  rowsRead: number;
  loadable: number;
  rejected: {
    total: number;
    byCategory: Record<RejectCategory, number>;
    byReason: Record<string, number>;
  };
  warnings: { total: number; byReason: { badKvStore: number } };
  duplicateContactIds: {
    /** 'unique index': a primary key / unique index on contact_id rules duplicates out. */
    checkedBy: 'unique index' | 'scan';
    ids: number;
    rows: number;
  };
  ambiguousRecordLabels: { labels: number; aors: number };
  expired: number;
  findings: number;
  clean: boolean;
  details?: {
    limit: number;
    rejected: Record<string, RowExample[]>;
    warnings: { badKvStore: RowExample[] };
    duplicateContactIds: DuplicateIdExample[];
    ambiguousRecordLabels: SharedLabelExample[];
  };
}

export interface ReportInput {
  options: VerifyOptions;
  target: DbTarget;
  ctx: VerifyContext;
  tally: VerifyTally;
  duplicates: DuplicateIds;
  labels: SharedLabels;
}

export function buildReport(i: ReportInput): VerifyReport {
  const { options: o, ctx, tally } = i;
  const byReason: Record<string, number> = {};
  const byCategory = Object.fromEntries(REJECT_CATEGORIES.map((c) => [c, 0])) as Record<RejectCategory, number>;
  REJECT_REASONS.forEach((r, idx) => {
    const n = tally.rejected[idx + 1]!;
    byReason[r.key] = n;
    byCategory[r.category] += n;
  });
  const expected = ctx.profile.tableVersion;
  const found = ctx.version.version;
  const versionOk = found === expected;
  const opensipsLog = versionOk
    ? null
    : ctx.version.versionTablePresent
      ? `invalid version ${found ?? 0} for table ${ctx.table.name} found, expected ${expected}`
      : `querying version for table ${ctx.table.name}`;
  const rejectedTotal = tally.rejectedTotal;
  const findings = rejectedTotal + tally.kvStoreWarnings + i.duplicates.ids + i.labels.labels + (versionOk ? 0 : 1);

  const report: VerifyReport = {
    db: i.target.redacted,
    dialect: i.target.dialect,
    table: ctx.table.display,
    release: ctx.profile.name,
    hashSize: o.hashSize,
    slots: ctx.slots,
    useDomain: o.useDomain,
    signedness: o.signedness,
    timezone: o.timezone,
    now: o.now,
    tableVersion: { expected, found, ok: versionOk, opensipsLog },
    rowsRead: tally.rowsRead,
    loadable: tally.loadable,
    rejected: { total: rejectedTotal, byCategory, byReason },
    warnings: { total: tally.kvStoreWarnings, byReason: { badKvStore: tally.kvStoreWarnings } },
    duplicateContactIds: { checkedBy: ctx.uniqueIds ? 'unique index' : 'scan', ids: i.duplicates.ids, rows: i.duplicates.rows },
    ambiguousRecordLabels: { labels: i.labels.labels, aors: i.labels.aors },
    expired: tally.expired,
    findings,
    clean: findings === 0,
  };
  if (o.details > 0) {
    const rejected: Record<string, RowExample[]> = {};
    for (const r of REJECT_REASONS) {
      const ex = tally.examples.get(r.key);
      if (ex) rejected[r.key] = ex;
    }
    report.details = {
      limit: o.details,
      rejected,
      warnings: { badKvStore: tally.examples.get('badKvStore') ?? [] },
      duplicateContactIds: i.duplicates.examples,
      ambiguousRecordLabels: i.labels.examples,
    };
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// Human summary

const LABEL_WIDTH = 28;
const COUNT_WIDTH = 8;

function line(label: string, count: number | string, note = ''): string {
  const l = `${label.padEnd(LABEL_WIDTH)}${String(count).padStart(COUNT_WIDTH)}`;
  return note ? `${l}   ${note}` : l;
}

function idText(ex: RowExample): string {
  if (!ex.id) return 'contact_id NULL';
  return `contact_id ${ex.id.contactId} (aorhash ${ex.id.aorhash}, rlabel ${ex.id.rlabel}, clabel ${ex.id.clabel})`;
}

function text(v: string | null): string {
  return v === null ? 'NULL' : JSON.stringify(v);
}

function who(ex: { username: string | null; domain: string | null }): string {
  return `username ${text(ex.username)} domain ${text(ex.domain)}`;
}

function exampleLines(examples: RowExample[] | undefined): string[] {
  return (examples ?? []).map((ex) => {
    const expected = ex.expectedAorhash === undefined ? '' : `, expected aorhash ${ex.expectedAorhash}`;
    return `      ${idText(ex)}, ${who(ex)}${expected}\n        OpenSIPS: ${ex.opensipsLog.replace(/\n/g, '\\n')}`;
  });
}

export function renderHuman(r: VerifyReport): string {
  const out: string[] = [];
  const dialect = r.dialect === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB';
  out.push(`ulbridge verify: ${dialect} table ${r.table} as OpenSIPS ${r.release} preloads it`);
  out.push(
    `  hash_size ${r.hashSize} (${r.slots} slots), use_domain ${r.useDomain ? 'on' : 'off'}, ${r.signedness} char, ` +
      `expiry as of ${wallClock(r.now, r.timezone)} ${r.timezone}`,
  );
  out.push('');
  const v = r.tableVersion;
  out.push(
    line(
      'table version',
      v.found === null ? 'none' : v.found,
      v.ok ? `(OpenSIPS ${r.release} expects ${v.expected})` : `OpenSIPS ${r.release} refuses to start: "${v.opensipsLog}"`,
    ),
  );
  out.push(line('rows read', r.rowsRead));
  out.push(line('loadable', r.loadable));
  out.push(line('rejected', r.rejected.total));
  for (const reason of REJECT_REASONS) {
    const n = r.rejected.byReason[reason.key] ?? 0;
    if (n === 0) continue;
    out.push(line(`  ${reason.label}`, n, `LM_${reason.level} "${reason.wording}"`));
    out.push(...exampleLines(r.details?.rejected[reason.key]));
  }
  out.push(
    line(
      'kv_store warnings',
      r.warnings.total,
      r.warnings.total ? `${KV_STORE_WARNING.wording} (the rows load, with an empty or partial kv store)` : '',
    ),
  );
  out.push(...exampleLines(r.details?.warnings.badKvStore));
  const dup = r.duplicateContactIds;
  out.push(
    line(
      'duplicate contact ids',
      dup.checkedBy === 'unique index' ? 0 : dup.ids,
      dup.checkedBy === 'unique index' ? '(ruled out by a unique index on contact_id)' : dup.ids ? `(${dup.rows} rows)` : '',
    ),
  );
  for (const ex of r.details?.duplicateContactIds ?? []) {
    out.push(`      contact_id ${ex.id.contactId} (aorhash ${ex.id.aorhash}, rlabel ${ex.id.rlabel}, clabel ${ex.id.clabel}) held by:`);
    for (const row of ex.rows) out.push(`        ${who(row)} contact ${text(row.contact)}`);
  }
  const amb = r.ambiguousRecordLabels;
  out.push(
    line(
      'ambiguous record labels',
      amb.labels,
      amb.labels ? `(${amb.aors} AORs; a lookup by contact id in such a slot can find the wrong AOR)` : '',
    ),
  );
  for (const ex of r.details?.ambiguousRecordLabels ?? []) {
    out.push(
      `      slot ${ex.slot}, rlabel ${ex.rlabel}: ${ex.aorCount} AORs: ${ex.aors.map((a) => `${a.aor} (${a.contactId})`).join(', ')}`,
    );
  }
  out.push(line('expired rows', r.expired, r.expired ? '(loaded, then deleted by the first timer run)' : ''));
  out.push('');
  if (r.clean) {
    out.push(`result: clean: OpenSIPS ${r.release} loads all ${r.rowsRead} row${r.rowsRead === 1 ? '' : 's'}`);
  } else {
    const parts: string[] = [];
    const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
    if (!v.ok) parts.push(`OpenSIPS ${r.release} refuses to start (table version ${v.found ?? 'missing'}, expects ${v.expected})`);
    if (r.rejected.total) parts.push(`preload skips ${r.rejected.total} of ${r.rowsRead} rows`);
    if (dup.ids) parts.push(`${plural(dup.ids, 'contact id', 'contact ids')} held by more than one row`);
    if (amb.labels) parts.push(`${plural(amb.labels, 'record label', 'record labels')} shared by AORs of one slot`);
    if (r.warnings.total) parts.push(`${plural(r.warnings.total, 'row', 'rows')} with a bad kv_store`);
    out.push(`result: ${plural(r.findings, 'finding', 'findings')}: ${parts.join('; ')}`);
  }
  return out.join('\n');
}
