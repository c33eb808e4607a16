import type { DbConnection } from '../db/connection.js';
import { columnArrays } from '../db/pgArray.js';
import { parseTableName, type TableName } from '../db/table.js';
import type { Registration } from '../log/event.js';
import type { BindingVersion } from '../log/version.js';
import { localDatetimeToUnix } from '../opensips/localTime.js';
import { releaseProfile, type ReleaseName, type ReleaseProfile } from '../opensips/releases.js';
import type { Target } from '../project/target.js';
import { locationRowValues, targetColumnPgTypes, type CellValue } from '../project/targetRow.js';

/** The legacy registrar whose table reverse sync writes (reverse[].legacy, compiled). */
export interface LegacyRegistrar {
  release: ReleaseName;
  /** IANA zone of the legacy registrar: DATETIME columns hold its local time. */
  timeZone: string;
  /** 2.2+ only: the registrar's usrloc hash_size, use_domain and char signedness. */
  hashSize?: number;
  useDomain?: boolean;
  unsignedChar?: boolean;
}

/**
 * A legacy row's version as read, and what a conditional write checks to know the row is still as
 * read: PostgreSQL, the row version's `xmin` (any write of the row changes it); MySQL/MariaDB, the
 * version's columns, last_modified as the text it was read as.
 */
export interface LegacyVersion extends BindingVersion {
  lastModifiedText: string;
  /** PostgreSQL: the xmin of the row version read; null on MySQL/MariaDB. */
  xmin: string | null;
}

/** Most rows per multi-row statement. */
const ROWS_PER_STATEMENT = 1000;

/**
 * The set-based reads and writes of reverse sync, run as prepared statements on PostgreSQL (their
 * text depends only on the table; MySQL/MariaDB texts carry the values and are unaffected).
 */
const PREPARED = { prepared: true } as const;
const ER_DUP_ENTRY = 1062;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** PostgreSQL: 64-bit keys as the signed values a BIGINT holds (an array parameter). */
function pgKeys(ids: readonly bigint[]): bigint[] {
  return ids.map((id) => BigInt.asIntN(64, id));
}

/** A 64-bit key as a bare SQL integer literal (MySQL compares a quoted number with a BIGINT as a double). */
function intLiteral(v: bigint): string {
  return BigInt.asIntN(64, v).toString();
}

/**
 * Reverse sync's writes into a legacy `location` table, on PostgreSQL or MySQL/MariaDB, through one
 * session, set-based: one statement per kind of write per batch (cut at 1,000 rows). The caller
 * brackets them in begin()/commit().
 *
 * - 2.1 tables (`id` key): new rows take the ids the database hands out (PostgreSQL: drawn from the
 *   table's own sequence first, so each row's id is known; MySQL/MariaDB: a multi-row INSERT's
 *   consecutive AUTO_INCREMENT values, or one INSERT per row when innodb_autoinc_lock_mode=2 makes
 *   them non-consecutive).
 * - 2.2+ tables (`contact_id` key): new rows carry the ids reverse sync allocated for the legacy
 *   registrar (src/reverse/labels.ts); insertWithIds() reports the ids some other writer already
 *   holds instead of overwriting them.
 */
export class LegacyTable {
  readonly profile: ReleaseProfile;
  /**
   * The legacy registrar described as a projection target (its release profile, hash_size,
   * use_domain, signedness, zone), so the projection's row conversion and label planner serve
   * for it unchanged.
   */
  readonly target: Target;
  private readonly tableName: TableName;
  private readonly table: string;
  /** The quoted key column (`id` or `contact_id`). */
  private readonly key: string;
  /** Columns written, key included (2.1 inserts leave it to the database). */
  private readonly columns: string[];
  private autoinc: { consecutive: boolean; step: bigint } | null = null;
  /** PostgreSQL: the key column's own type (`integer` for a 2.1 SERIAL `id`), read once. */
  private keyType: string | null = null;
  private readonly recent = new Map<string, bigint>();

  /**
   * @param reader a second connection to the legacy database, for the version reads of the next
   *   batch made while this one writes (readVersionsAhead); without it, nothing is read ahead.
   */
  constructor(
    private readonly db: DbConnection,
    table: string,
    registrar: LegacyRegistrar,
    private readonly reader: DbConnection | null = null,
  ) {
    this.profile = releaseProfile(registrar.release);
    this.target = {
      name: 'legacy',
      db: db.target.url,
      table,
      release: registrar.release,
      hashSize: registrar.hashSize ?? 0,
      useDomain: registrar.useDomain ?? false,
      signedness: registrar.unsignedChar ? 'unsigned' : 'signed',
      timeZone: registrar.timeZone,
      stateSchema: '',
      profile: this.profile,
    };
    this.tableName = parseTableName(table);
    this.table = db.dialect.table(this.tableName);
    this.key = db.dialect.quoteIdent(this.profile.keyColumn);
    this.columns = this.profile.columns.map((c) => c.name);
  }

  /** Whether rows carry contact ids reverse sync allocates (2.2+), not ids the database assigns (2.1). */
  get hasContactIds(): boolean {
    return this.profile.keyColumn === 'contact_id';
  }

  get dialect(): 'postgres' | 'mysql' {
    return this.db.dialect.name;
  }

  begin(): Promise<unknown> {
    return this.db.query(this.db.dialect.name === 'postgres' ? 'BEGIN' : 'START TRANSACTION');
  }

  commit(): Promise<unknown> {
    return this.db.query('COMMIT');
  }

  rollback(): Promise<unknown> {
    return this.db.query('ROLLBACK');
  }

  /**
   * Current versions of the rows with these keys (a plain read: writes made on them are
   * conditional on the version read, see updateRows/deleteRows). One statement per 1,000 keys.
   */
  readVersions(ids: readonly bigint[]): Promise<Map<bigint, LegacyVersion>> {
    return this.readVersionsOn(this.db, ids);
  }

  /**
   * readVersions on the reader connection, outside the write transaction (the next batch's rows,
   * read while this batch writes); null without a reader. A version read ahead is as good as one
   * read in the transaction: writes are conditional on it either way.
   */
  async readVersionsAhead(ids: readonly bigint[]): Promise<Map<bigint, LegacyVersion> | null> {
    return this.reader ? this.readVersionsOn(this.reader, ids) : null;
  }

  private async readVersionsOn(db: DbConnection, ids: readonly bigint[]): Promise<Map<bigint, LegacyVersion>> {
    const map = new Map<bigint, LegacyVersion>();
    const d = this.db.dialect;
    const keys = d.name === 'postgres' && ids.length > 0 ? await this.pgKeyArray(db) : '';
    for (const part of chunk(d.name === 'postgres' ? ids.filter((id) => this.keyFits(id)) : ids, ROWS_PER_STATEMENT)) {
      const cols = `${this.keyText()} AS id, callid, cseq, ${d.datetimeText('last_modified')} AS lm${d.name === 'postgres' ? ', xmin::text AS x' : ''}`;
      const rows = await db.query<{ id: string | number | bigint; callid: string; cseq: number; lm: string; x?: string }>(
        d.name === 'postgres'
          ? `SELECT ${cols} FROM ${this.table} WHERE ${this.key} = ANY(${keys})`
          : `SELECT ${cols} FROM ${this.table} WHERE ${this.key} IN (${part.map(intLiteral).join(', ')})`,
        d.name === 'postgres' ? [pgKeys(part)] : [],
        PREPARED,
      );
      for (const r of rows)
        map.set(BigInt(r.id), {
          callid: r.callid,
          cseq: Number(r.cseq),
          lastModified: this.unixOf(r.lm),
          lastModifiedText: r.lm,
          xmin: r.x ?? null,
        });
    }
    return map;
  }

  /** Of these keys, the ones a row of the table holds (no lock). */
  async existingIds(ids: readonly bigint[]): Promise<Set<bigint>> {
    const out = new Set<bigint>();
    const keys = this.dialect === 'postgres' && ids.length > 0 ? await this.pgKeyArray() : '';
    for (const part of chunk(this.dialect === 'postgres' ? ids.filter((id) => this.keyFits(id)) : ids, ROWS_PER_STATEMENT)) {
      const rows = await this.db.query<{ id: string | bigint }>(
        this.dialect === 'postgres'
          ? `SELECT ${this.keyText()} AS id FROM ${this.table} WHERE ${this.key} = ANY(${keys})`
          : `SELECT ${this.keyText()} AS id FROM ${this.table} WHERE ${this.key} IN (${part.map(intLiteral).join(', ')})`,
        this.dialect === 'postgres' ? [pgKeys(part)] : [],
        PREPARED,
      );
      for (const r of rows) out.add(BigInt(r.id));
    }
    return out;
  }

  /** Keys held by rows in the inclusive ranges (the contact ids of one AOR's record label are one range). */
  async idsInRanges(ranges: ReadonlyArray<readonly [bigint, bigint]>): Promise<bigint[]> {
    const out: bigint[] = [];
    for (const part of chunk(ranges, 200)) {
      const where = part.map(([lo, hi]) => `${this.key} BETWEEN ${intLiteral(lo)} AND ${intLiteral(hi)}`).join(' OR ');
      const rows = await this.db.query<{ id: string | bigint }>(`SELECT ${this.keyText()} AS id FROM ${this.table} WHERE ${where}`);
      for (const r of rows) out.push(BigInt(r.id));
    }
    return out;
  }

  /**
   * Deletes these rows; with `expect`, only a row still at the version read (the legacy registrar
   * may have written it since). Returns how many rows were deleted.
   */
  async deleteRows(rows: ReadonlyArray<{ id: bigint; expect?: LegacyVersion }>): Promise<number> {
    let n = 0;
    for (const part of chunk(rows, ROWS_PER_STATEMENT)) {
      const cond = part.some((r) => r.expect);
      if (this.dialect === 'postgres') {
        const res = await this.db.query(
          cond
            ? `DELETE FROM ${this.table} AS l USING unnest($1::bigint[], $2::xid[]) AS u(k, x)
                WHERE l.${this.key} = u.k AND (u.x IS NULL OR l.xmin = u.x) RETURNING 1`
            : `DELETE FROM ${this.table} WHERE ${this.key} = ANY($1::bigint[]) RETURNING 1`,
          cond ? [part.map((r) => intLiteral(r.id)), part.map((r) => r.expect?.xmin ?? null)] : [part.map((r) => intLiteral(r.id))],
          PREPARED,
        );
        n += res.length;
      } else {
        const where = part
          .map((r) =>
            r.expect
              ? `(${this.key} = ${intLiteral(r.id)} AND callid = ? AND cseq = ? AND ${this.db.dialect.datetimeText('last_modified')} = ?)`
              : `${this.key} = ${intLiteral(r.id)}`,
          )
          .join(' OR ');
        const res = (await this.db.query(
          `DELETE FROM ${this.table} WHERE ${where}`,
          part.flatMap((r) => (r.expect ? [r.expect.callid, r.expect.cseq, r.expect.lastModifiedText] : [])),
        )) as unknown as { affectedRows: number };
        n += res.affectedRows;
      }
    }
    return n;
  }

  /**
   * Rewrites these rows whole (key kept) from the registrations, in the legacy release's format;
   * with `expect`, only a row still at the version read. Returns how many rows were updated.
   */
  async updateRows(rows: ReadonlyArray<{ id: bigint; reg: Registration; expect?: LegacyVersion }>): Promise<number> {
    const cols = this.columns.slice(1);
    let n = 0;
    for (const part of chunk(rows, ROWS_PER_STATEMENT)) {
      const values = part.map((r) => this.values(r.reg, r.id));
      const cond = part.some((r) => r.expect);
      if (this.dialect === 'postgres') {
        const sets = cols.map((c) => `${this.q(c)} = u.${this.q(c)}`).join(', ');
        const types = targetColumnPgTypes(this.target);
        // The row version must still be the one read (null: no condition for that row).
        const res = await this.db.query(
          `UPDATE ${this.table} AS l SET ${sets}
             FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}${cond ? `, $${types.length + 1}::xid[]` : ''})
               AS u(${this.columns.map((c) => this.q(c)).join(', ')}${cond ? ', x_xmin' : ''})
            WHERE l.${this.key} = u.${this.key}${cond ? ' AND (u.x_xmin IS NULL OR l.xmin = u.x_xmin)' : ''}
            RETURNING 1`,
          [...columnArrays(values, this.columns.length), ...(cond ? [part.map((r) => r.expect?.xmin ?? null)] : [])],
          PREPARED,
        );
        n += res.length;
      } else {
        // The version the row must still have (nulls: no condition for that row).
        const expect = [
          part.map((r) => r.expect?.callid ?? null),
          part.map((r) => r.expect?.cseq ?? null),
          part.map((r) => r.expect?.lastModifiedText ?? null),
        ];
        const sets = cols.map((c) => `l.${this.q(c)} = u.${this.q(c)}`).join(', ');
        const names = [...this.columns, 'x_callid', 'x_cseq', 'x_lm'];
        const derived = values
          .map(
            (v, i) =>
              `SELECT ${[...v, null, null, null]
                .map((_, j) => (j === 0 ? intLiteral(v[0] as bigint) : '?') + (i === 0 ? ` AS ${this.q(names[j]!)}` : ''))
                .join(', ')}`,
          )
          .join(' UNION ALL ');
        const res = (await this.db.query(
          `UPDATE ${this.table} AS l JOIN (${derived}) AS u ON l.${this.key} = u.${this.key}${cond ? this.versionCondition() : ''} SET ${sets}`,
          values.flatMap((v, i) => [...v.slice(1), expect[0]![i], expect[1]![i], expect[2]![i]]),
        )) as unknown as { affectedRows: number };
        n += res.affectedRows;
      }
    }
    return n;
  }

  /**
   * 2.2+: inserts rows whose contact ids were allocated by reverse sync; a row whose id is already
   * held (a registrar's row, or one that appeared meanwhile) is not written and its id is returned,
   * for the caller to relabel. Nothing is ever overwritten.
   */
  async insertWithIds(rows: ReadonlyArray<{ contactId: bigint; values: readonly CellValue[] }>): Promise<Set<bigint>> {
    const clashed = new Set<bigint>();
    for (const part of chunk(rows, ROWS_PER_STATEMENT)) {
      const values = part.map((r) => this.cells(r.values));
      if (this.dialect === 'postgres') {
        const inserted = await this.db.query<{ id: string | bigint }>(
          `INSERT INTO ${this.table} (${this.columns.map((c) => this.q(c)).join(', ')}) SELECT * FROM ${this.unnest()}
           ON CONFLICT (${this.key}) DO NOTHING RETURNING ${this.key}::text AS id`,
          columnArrays(values, this.columns.length),
          PREPARED,
        );
        const ok = new Set(inserted.map((r) => BigInt(r.id)));
        for (const r of part) if (!ok.has(r.contactId)) clashed.add(r.contactId);
        continue;
      }
      // MySQL: no ON CONFLICT ... RETURNING (and INSERT IGNORE hides every other error): look the
      // ids up, insert the rest; a row that appears in between fails the statement (only it).
      for (let attempt = 0; ; attempt++) {
        const held = await this.existingIds(part.map((r) => r.contactId));
        const free = part.filter((r) => !held.has(r.contactId));
        for (const id of held) clashed.add(id);
        if (free.length === 0) break;
        try {
          await this.db.query(
            `INSERT INTO ${this.table} (${this.columns.map((c) => this.q(c)).join(', ')}) VALUES ${free
              .map(
                (r) =>
                  `(${intLiteral(r.contactId)}, ${this.columns
                    .slice(1)
                    .map(() => '?')
                    .join(', ')})`,
              )
              .join(', ')}`,
            free.flatMap((r) => this.cells(r.values).slice(1)),
          );
          break;
        } catch (e) {
          if ((e as { cause?: { errno?: number } }).cause?.errno !== ER_DUP_ENTRY || attempt >= 3) throw e;
        }
      }
    }
    return clashed;
  }

  /** 2.1: inserts the bindings as new rows and returns the ids the database gave them, in order. */
  async insertAutoIds(regs: readonly Registration[]): Promise<bigint[]> {
    const out: bigint[] = [];
    for (const part of chunk(regs, ROWS_PER_STATEMENT)) {
      if (this.dialect === 'postgres') {
        // Ids from the table's own sequence (the one the database would use), drawn in the same
        // statement, so each row's id is known.
        const types = targetColumnPgTypes(this.target).slice(1);
        const values = part.map((reg) => this.values(reg, 0n).slice(1));
        const got = await this.db.query<{ id: string }>(
          `WITH ids AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence($1, $2)) AS id, o FROM generate_series(1, $3::int) AS o),
           ins AS (INSERT INTO ${this.table} (${this.columns.map((c) => this.q(c)).join(', ')})
                   SELECT ids.id, ${this.columns
                     .slice(1)
                     .map((c) => `u.${this.q(c)}`)
                     .join(', ')}
                     FROM unnest(${types.map((t, i) => `$${i + 4}::${t}[]`).join(', ')}) WITH ORDINALITY
                          AS u(${this.columns
                            .slice(1)
                            .map((c) => this.q(c))
                            .join(', ')}, o)
                     JOIN ids USING (o))
           SELECT id::text AS id FROM ids ORDER BY o`,
          [this.table, this.profile.keyColumn, part.length, ...columnArrays(values, this.columns.length - 1)],
          PREPARED,
        );
        const ids = got.map((g) => BigInt(g.id));
        out.push(...ids);
        continue;
      }
      const auto = await this.autoIncrement();
      const cols = this.columns.slice(1);
      const insert = (rows: readonly Registration[]) =>
        this.db.query(
          `INSERT INTO ${this.table} (${cols.map((c) => this.q(c)).join(', ')}) VALUES ${rows.map(() => `(${cols.map(() => '?').join(', ')})`).join(', ')}`,
          rows.flatMap((reg) => this.values(reg, 0n).slice(1)),
        ) as unknown as Promise<{ insertId: number | string; affectedRows: number }>;
      if (auto.consecutive) {
        const res = await insert(part);
        const first = BigInt(res.insertId);
        for (let i = 0; i < part.length; i++) out.push(first + BigInt(i) * auto.step);
      } else {
        for (const reg of part) out.push(BigInt((await insert([reg])).insertId));
      }
    }
    return out;
  }

  /**
   * PostgreSQL: `$1` as an array of the key column's own type. A 2.1 table's SERIAL `id` is an
   * integer: `integer = ANY(bigint[])` is a cross-type comparison the planner cannot hash, and on a
   * table of a few ten thousand rows it prefers a sequential scan testing every row against every
   * key (tens of milliseconds per 500 keys, against well under one with the index).
   */
  private async pgKeyArray(db: DbConnection = this.db): Promise<string> {
    if (this.keyType === null) {
      const [r] = await db.query<{ t: string | null }>(
        'SELECT format_type(atttypid, NULL) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped',
        [this.table, this.profile.keyColumn],
      );
      // Only the integer types a key column can have are spliced into SQL; anything else: bigint.
      this.keyType = r?.t === 'integer' || r?.t === 'smallint' || r?.t === 'numeric' ? r.t : 'bigint';
    }
    return `$1::${this.keyType}[]`;
  }

  /** PostgreSQL, after pgKeyArray: whether a key fits the key column's type (one that does not names no row). */
  private keyFits(id: bigint): boolean {
    const max = this.keyType === 'integer' ? 2147483647n : this.keyType === 'smallint' ? 32767n : null;
    return max === null || (id <= max && id >= -max - 1n);
  }

  /** MySQL: whether one multi-row INSERT gets consecutive AUTO_INCREMENT values (lock mode 0 or 1), and their step. */
  private async autoIncrement(): Promise<{ consecutive: boolean; step: bigint }> {
    if (!this.autoinc) {
      const [v] = await this.db.query<{ mode: string | number; step: string | number }>(
        'SELECT @@innodb_autoinc_lock_mode AS mode, @@auto_increment_increment AS step',
      );
      this.autoinc = { consecutive: Number(v!.mode) < 2, step: BigInt(v!.step) };
    }
    return this.autoinc;
  }

  /**
   * MySQL/MariaDB: the row is still at the version read (x_ columns; none: no condition).
   * last_modified is compared as the same text it was read as, so sub-second digits a writer may
   * have stored cannot make it differ.
   */
  private versionCondition(): string {
    const lm = this.db.dialect.datetimeText('l.last_modified');
    return ` AND (u.x_cseq IS NULL OR (l.callid = u.x_callid AND l.cseq = u.x_cseq AND ${lm} = u.x_lm))`;
  }

  /**
   * A DATETIME read back as unix seconds in the registrar's zone, memoised: a batch's last_modified
   * values cluster on a few seconds, and the zone conversion costs more than the row's SQL.
   */
  private unixOf(text: string): bigint {
    let v = this.recent.get(text);
    if (v === undefined) {
      v = localDatetimeToUnix(text, this.target.timeZone);
      if (this.recent.size >= 4096) this.recent.clear();
      this.recent.set(text, v);
    }
    return v;
  }

  private q(c: string): string {
    return this.db.dialect.quoteIdent(c);
  }

  /** The key as text (MySQL BIGINT UNSIGNED and PostgreSQL BIGINT alike, never through a JS number). */
  private keyText(): string {
    return this.dialect === 'postgres' ? `${this.key}::text` : `CAST(${this.key} AS CHAR)`;
  }

  /** PostgreSQL: `unnest($1::t1[], ...)`, one array parameter per column. */
  private unnest(): string {
    const types = targetColumnPgTypes(this.target);
    return `unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
  }

  /** Column values, key first, in the legacy release's format: DATETIMEs in its zone, FL_MEM cleared. */
  values(reg: Registration, key: bigint): unknown[] {
    // A 2.1 table has NOT NULL '' defaults where the log has null (domain without use_domain).
    const r = this.hasContactIds ? reg : { ...reg, domain: reg.domain ?? '' };
    const all = locationRowValues(this.profile, this.target.timeZone, r, { contact_id: key });
    all[0] = key;
    return this.cells(all);
  }

  /** Driver values: 64-bit as decimal strings for PostgreSQL (MySQL keys go in as literals). */
  private cells(values: readonly CellValue[]): unknown[] {
    return values.map((v, j) => (typeof v === 'bigint' ? (j === 0 && this.dialect === 'mysql' ? v : v.toString()) : (v ?? null)));
  }
}
