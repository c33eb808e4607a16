/**
 * An equality check of a legacy location table against a target location table that shares no
 * code with the product's comparison (`diffBindingSets`, `ulbridge diff`): each side is read with
 * one plain SQL statement that does the conversions itself (DATETIME in the registrar's zone ->
 * unix seconds, permanent `localtime(0)` -> 0, FL_MEM cleared, q to two decimals, '' = NULL), the
 * AOR put in registrar-canonical form (legacy user part %-unescaped and lower-cased unless the
 * legacy registrar is case-sensitive, domains lower-cased; the target compared as stored), and
 * the live bindings (expires 0 or later than `now`) matched by their identity
 * (AOR, contact, Call-ID). Of several rows with one identity (duplicates, counted) the one with the
 * lowest id is compared field by field. Tests use it to catch the product's own checks agreeing with a wrong
 * table.
 *
 * PostgreSQL tables only (both sides); releases 2.1-2.3 (DATETIME expires) and 2.4+ (unix
 * expires). The API is additive: add options and functions, do not change existing signatures.
 */
import pg from 'pg';

/** One side of the comparison. */
export interface TableSpec {
  /** postgres:// URL of the database holding the table. */
  url: string;
  /** Table name, optionally schema-qualified (default `location`). */
  table?: string;
  /** OpenSIPS release of the table's schema: 2.1, 2.2, 2.3 (DATETIME expires), 2.4, 3.x, 4.0. */
  release: string;
  /** IANA zone of the registrar host: DATETIME columns are wall-clock time there (default UTC). */
  timeZone?: string;
  /**
   * The registrar's `case_sensitive`. Legacy side: false (default) lower-cases the user part.
   * The target side is always compared as stored.
   */
  caseSensitive?: boolean;
}

/** A live binding in canonical form. */
export interface Binding {
  username: string;
  domain: string;
  contact: string;
  received: string;
  path: string;
  expires: number;
  q: string;
  callid: string;
  cseq: number;
  lastModified: number;
  flags: number;
  cflags: string;
  userAgent: string;
  socket: string;
  methods: number | null;
  sipInstance: string;
  attr: string;
}

/** The compared fields, in this order (identity fields first). */
export const BINDING_FIELDS: ReadonlyArray<keyof Binding> = [
  'username',
  'domain',
  'contact',
  'callid',
  'received',
  'path',
  'expires',
  'q',
  'cseq',
  'lastModified',
  'flags',
  'cflags',
  'userAgent',
  'socket',
  'methods',
  'sipInstance',
  'attr',
];

export interface SideSummary {
  /** Every row of the table. */
  rows: number;
  /** Rows with 0 < expires <= now (not compared). */
  expired: number;
  /** Live rows. */
  live: number;
  /** Live rows beyond the first with the same identity (AOR, contact, Call-ID). */
  duplicates: number;
}

export interface ChangedBinding {
  key: string;
  fields: Partial<Record<keyof Binding, { legacy: unknown; target: unknown }>>;
}

export interface IndependentComparison {
  equal: boolean;
  /** The unix time both sides were judged at. */
  now: number;
  legacy: SideSummary;
  target: SideSummary;
  /** Live legacy bindings with no target binding of the same identity. */
  missing: Binding[];
  /** Live target bindings with no legacy binding of the same identity. */
  extra: Binding[];
  /** Same identity, some other field differs. */
  changed: ChangedBinding[];
}

/** The identity of a binding: canonical AOR, contact and Call-ID (unique per binding in a table). */
export function bindingKey(b: Pick<Binding, 'username' | 'domain' | 'contact' | 'callid'>): string {
  return JSON.stringify([b.username, b.domain, b.contact, b.callid]);
}

function quoteTable(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}

function datetimeExpires(release: string): boolean {
  if (['2.1', '2.2', '2.3'].includes(release)) return true;
  if (['2.4', '3.x', '4.0'].includes(release)) return false;
  throw new Error(`independentCompare: unknown release ${release}`);
}

/** `%XX` escapes of a user part, decoded as UTF-8 bytes (invalid sequences left as they are). */
function percentUnescape(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
  } catch {
    return s;
  }
}

interface Row {
  binding: Binding;
  live: boolean;
  contactId: string | null;
}

async function readSide(spec: TableSpec, side: 'legacy' | 'target', now: number): Promise<Row[]> {
  if (!/^postgres(ql)?:\/\//.test(spec.url)) throw new Error(`independentCompare: ${side} is not a PostgreSQL URL: ${spec.url}`);
  const tz = spec.timeZone ?? 'UTC';
  const datetime = datetimeExpires(spec.release);
  // A DATETIME is wall-clock time in the registrar's zone: `AT TIME ZONE tz` makes it an instant.
  const expires = datetime ? `extract(epoch FROM (expires AT TIME ZONE $1))::bigint` : 'expires::bigint';
  const hasId = spec.release !== '2.1';
  const sql = `
    SELECT username, domain, contact, coalesce(received, '') AS received, coalesce(path, '') AS path,
           ${expires} AS expires_unix,
           round(q::numeric, 2)::text AS q, callid, cseq::int AS cseq,
           extract(epoch FROM (last_modified AT TIME ZONE $1))::bigint AS last_modified_unix,
           (flags & ~1)::int AS flags, coalesce(cflags, '') AS cflags, coalesce(user_agent, '') AS user_agent,
           coalesce(socket, '') AS socket, methods::int AS methods, coalesce(sip_instance, '') AS sip_instance,
           coalesce(attr, '') AS attr, ${hasId ? 'contact_id::text' : 'NULL::text'} AS contact_id
      FROM ${quoteTable(spec.table ?? 'location')}
     ORDER BY ${hasId ? 'contact_id' : 'id'}`;
  const c = new pg.Client({ connectionString: spec.url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const { rows } = await c.query(sql, [tz]);
    return rows.map((r) => {
      const legacyUser = percentUnescape(r.username as string);
      const username =
        side === 'legacy' && !spec.caseSensitive ? legacyUser.toLowerCase() : side === 'legacy' ? legacyUser : (r.username as string);
      const exp = Number(r.expires_unix);
      const binding: Binding = {
        username,
        domain: ((r.domain as string | null) ?? '').toLowerCase(),
        contact: r.contact as string,
        received: r.received as string,
        path: r.path as string,
        expires: exp,
        q: r.q as string,
        callid: r.callid as string,
        cseq: r.cseq as number,
        lastModified: Number(r.last_modified_unix),
        flags: r.flags as number,
        cflags: r.cflags as string,
        userAgent: r.user_agent as string,
        socket: r.socket as string,
        methods: (r.methods as number | null) ?? null,
        sipInstance: r.sip_instance as string,
        attr: r.attr as string,
      };
      return { binding, live: exp === 0 || exp > now, contactId: r.contact_id as string | null };
    });
  } finally {
    await c.end().catch(() => undefined);
  }
}

function group(rows: Row[]): { summary: SideSummary; byKey: Map<string, Binding[]> } {
  const byKey = new Map<string, Binding[]>();
  let expired = 0;
  for (const r of rows) {
    if (!r.live) {
      expired++;
      continue;
    }
    const k = bindingKey(r.binding);
    const list = byKey.get(k);
    if (list) list.push(r.binding);
    else byKey.set(k, [r.binding]);
  }
  let duplicates = 0;
  for (const list of byKey.values()) duplicates += list.length - 1;
  return { summary: { rows: rows.length, expired, live: rows.length - expired, duplicates }, byKey };
}

/**
 * Compares the live bindings of a legacy table and a target table, both read at once (one
 * statement each) and judged at the same `now` (default: the current time).
 */
export async function compareIndependently(
  legacy: TableSpec,
  target: TableSpec,
  opts: { now?: number } = {},
): Promise<IndependentComparison> {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const [l, t] = await Promise.all([readSide(legacy, 'legacy', now), readSide(target, 'target', now)]);
  const L = group(l);
  const T = group(t);
  const missing: Binding[] = [];
  const extra: Binding[] = [];
  const changed: ChangedBinding[] = [];
  for (const [k, ls] of L.byKey) {
    const ts = T.byKey.get(k);
    if (!ts) {
      missing.push(...ls);
      continue;
    }
    const a = ls[0]!;
    const b = ts[0]!;
    const fields: ChangedBinding['fields'] = {};
    for (const f of BINDING_FIELDS) if (a[f] !== b[f]) fields[f] = { legacy: a[f], target: b[f] };
    if (Object.keys(fields).length > 0) changed.push({ key: k, fields });
  }
  for (const [k, ts] of T.byKey) if (!L.byKey.has(k)) extra.push(...ts);
  return {
    equal: missing.length === 0 && extra.length === 0 && changed.length === 0 && L.summary.duplicates === 0 && T.summary.duplicates === 0,
    now,
    legacy: L.summary,
    target: T.summary,
    missing,
    extra,
    changed,
  };
}

/** One line for an assertion message: counts and up to `examples` examples of each difference. */
export function describeComparison(c: IndependentComparison, examples = 3): string {
  const head =
    `legacy ${c.legacy.live} live (${c.legacy.rows} rows, ${c.legacy.duplicates} dup), target ${c.target.live} live (${c.target.rows} rows, ${c.target.duplicates} dup): ` +
    `${c.missing.length} missing, ${c.extra.length} extra, ${c.changed.length} changed`;
  const ex = [
    ...c.missing.slice(0, examples).map((b) => `missing ${bindingKey(b)}`),
    ...c.extra.slice(0, examples).map((b) => `extra ${bindingKey(b)}`),
    ...c.changed.slice(0, examples).map((x) => `changed ${x.key}: ${JSON.stringify(x.fields)}`),
  ];
  return ex.length ? `${head}\n  ${ex.join('\n  ')}` : head;
}

/**
 * Polls `compareIndependently` until the tables are equal; fails after `timeoutMs` with the last
 * difference (`what` names the check in the message).
 */
export async function waitForIndependentEqual(
  legacy: TableSpec,
  target: TableSpec,
  opts: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<IndependentComparison> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last: IndependentComparison;
  for (;;) {
    last = await compareIndependently(legacy, target);
    if (last.equal) return last;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
  throw new Error(
    `${opts.what ?? 'target'} did not equal the legacy table within ${timeoutMs} ms (independent comparison): ${describeComparison(last)}`,
  );
}

/**
 * The target's contact ids per binding identity (every row, live or expired; a binding held by
 * several rows lists several ids, sorted).
 */
export async function targetIdsByBinding(target: TableSpec): Promise<Map<string, string[]>> {
  if (target.release === '2.1') throw new Error('independentCompare: a 2.1 table has no contact_id');
  const rows = await readSide(target, 'target', 0);
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const k = bindingKey(r.binding);
    const list = out.get(k);
    if (list) list.push(r.contactId!);
    else out.set(k, [r.contactId!]);
  }
  for (const list of out.values()) list.sort();
  return out;
}

/**
 * Every live legacy binding by identity, with a fingerprint of all its fields: two snapshots
 * taken at different times tell which bindings did not change in between.
 */
export async function legacyFingerprints(legacy: TableSpec, opts: { now?: number } = {}): Promise<Map<string, string>> {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const out = new Map<string, string>();
  for (const r of await readSide(legacy, 'legacy', now))
    if (r.live) out.set(bindingKey(r.binding), JSON.stringify(BINDING_FIELDS.map((f) => r.binding[f])));
  return out;
}

/**
 * Bindings unchanged in the legacy table between two fingerprint snapshots whose target contact
 * ids differ between two id snapshots (empty: no id of an unchanged binding moved).
 */
export function idsMovedForUnchanged(
  legacyBefore: Map<string, string>,
  legacyAfter: Map<string, string>,
  idsBefore: Map<string, string[]>,
  idsAfter: Map<string, string[]>,
): { unchanged: number; moved: Array<{ key: string; before: string[]; after: string[] }> } {
  const moved: Array<{ key: string; before: string[]; after: string[] }> = [];
  let unchanged = 0;
  for (const [k, fp] of legacyBefore) {
    if (legacyAfter.get(k) !== fp) continue;
    unchanged++;
    const a = idsBefore.get(k) ?? [];
    const b = idsAfter.get(k) ?? [];
    if (a.join(',') !== b.join(',')) moved.push({ key: k, before: a, after: b });
  }
  return { unchanged, moved };
}

/**
 * The same comparison with named arguments: the live bindings of `legacy` against `target`
 * (missing, extra, changed, duplicates on either side), judged at `now` (default: the current time).
 */
export function compareLegacyToTarget(opts: { legacy: TableSpec; target: TableSpec; now?: number }): Promise<IndependentComparison> {
  return compareIndependently(opts.legacy, opts.target, opts.now === undefined ? {} : { now: opts.now });
}
