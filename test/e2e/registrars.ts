/**
 * Registrars for the cut-over rehearsals, writing real tables (PostgreSQL or MariaDB) the way
 * OpenSIPS does:
 * - 2.1 (AutoIdRegistrar): auto-increment ids, DATETIME times, refresh in place;
 * - 2.2 and later (ContactIdRegistrar, caching mode): ids packed from the AOR's hash, its record
 *   label and the next contact label (as usrloc does once it preloaded the table), with that
 *   release's contact-label packing and `expires` type.
 * Every AOR is owned by one registrar at a time; the rehearsals move AORs between them.
 */
import type pg from 'pg';
import mysql from 'mysql2/promise';
import { aorBytes } from '../../src/opensips/aor.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { CLABEL_MASK, packContactId, unpackContactId } from '../../src/opensips/contactId.js';
import { localDatetimeToUnix, unixToLocalDatetime } from '../../src/opensips/localTime.js';
import type { ReleaseProfile } from '../../src/opensips/releases.js';
import { LEGACY_COLUMNS } from '../../src/demo/legacyTable.js';
import type { LegacyRow, Workload } from '../../src/demo/workload.js';

export type Side = 'legacy' | 'target';

export interface ChurnCounts {
  refreshes: number;
  newContacts: number;
  newAors: number;
  deregistrations: number;
  /** Contacts registered for a few seconds and never refreshed, deleted by the registrar's timer. */
  expiries: number;
}

/** New contacts that register for only a few seconds (and are never refreshed), in percent. */
const SHORT_LIVED = 30;

function rowValues(r: LegacyRow, expires: string | number, tz: string): unknown[] {
  return [
    r.username,
    r.domain,
    r.contact,
    r.received,
    r.path,
    expires,
    r.q,
    r.callid,
    r.cseq,
    unixToLocalDatetime(r.lastModified, tz),
    r.flags,
    r.cflags,
    r.userAgent,
    r.socket,
    r.methods,
    r.sipInstance,
    r.attr,
  ];
}

/** One AOR as a registrar holds it: its rows (by key) and, for the new registrar, its labels. */
interface Record {
  username: string;
  domain: string;
  keys: bigint[];
  rlabel?: number;
  nextClabel?: number;
}

/** A registrar's session: PostgreSQL or MariaDB, with `?` placeholders on both. */
export interface SqlSession {
  readonly kind: 'postgres' | 'mariadb';
  query(sql: string, params?: unknown[]): Promise<Array<{ [k: string]: unknown }>>;
  /** Runs an INSERT and returns the auto-increment id it took. */
  insert(sql: string, params: unknown[]): Promise<bigint>;
  close(): Promise<void>;
}

export function pgSql(client: pg.Client): SqlSession {
  const numbered = (sql: string): string => {
    let i = 0;
    return sql.replace(/\?/g, () => `$${++i}`);
  };
  return {
    kind: 'postgres',
    query: async (sql, params = []) => (await client.query(numbered(sql), params)).rows,
    insert: async (sql, params) => BigInt((await client.query(`${numbered(sql)} RETURNING id::text AS id`, params)).rows[0].id),
    close: () => client.end(),
  };
}

export async function mariaSql(url: string): Promise<SqlSession> {
  const conn = await mysql.createConnection({ uri: url, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  return {
    kind: 'mariadb',
    query: async (sql, params = []) => (await conn.query(sql, params))[0] as Array<{ [k: string]: unknown }>,
    insert: async (sql, params) => BigInt(((await conn.query(sql, params))[0] as { insertId: number }).insertId),
    close: () => conn.end(),
  };
}

export abstract class Registrar {
  readonly counts: ChurnCounts = { refreshes: 0, newContacts: 0, newAors: 0, deregistrations: 0, expiries: 0 };
  /** Short-lived contacts: key -> (AOR, unix expiry), for the registrar's expiry timer. */
  private readonly expiring = new Map<bigint, { aor: string; at: number }>();
  protected readonly records = new Map<string, Record>(); // canonical AOR (lower-case user) -> record
  /** AORs this registrar registered first (canonical names). */
  readonly created: string[] = [];

  constructor(
    protected readonly workload: Workload,
    protected readonly tz: string,
    private nextAor: () => number,
  ) {}

  get aors(): string[] {
    return [...this.records.keys()];
  }

  /** Takes over these AORs: reads their rows from this registrar's table (as a preload would). */
  abstract take(aors: string[]): Promise<void>;

  /** Stops serving these AORs (another registrar takes them). */
  release(aors: string[]): void {
    const gone = new Set(aors);
    for (const a of aors) this.records.delete(a);
    for (const [key, e] of this.expiring) if (gone.has(e.aor)) this.expiring.delete(key);
  }

  /** A contact that `take` read: the timer watches it when it expires within a minute. */
  protected track(aor: string, key: bigint, expires: number): void {
    if (expires !== 0 && expires < Date.now() / 1000 + 60) this.expiring.set(key, { aor, at: expires });
  }

  /** usrloc's timer: deletes the contacts whose expiry has passed. */
  private async expireDue(): Promise<void> {
    const now = Date.now() / 1000;
    for (const [key, e] of this.expiring) {
      if (e.at > now) continue;
      this.expiring.delete(key);
      const rec = this.records.get(e.aor);
      const i = rec?.keys.indexOf(key) ?? -1;
      if (!rec || i < 0) continue;
      await this.remove(key);
      rec.keys.splice(i, 1);
      this.counts.expiries++;
    }
  }

  /**
   * Seeds the table as registrations arrive: `count` contacts of AORs 0..aors-1 (the rest extra
   * contacts). The registrar serves none of them until it takes them (as after a restart).
   */
  async seed(count: number, aors: number): Promise<void> {
    const seeded = new Map<string, Record>();
    for (let i = 0; i < count; i++) {
      const row = this.workload.registration(i < aors ? i : i % aors);
      const key = row.username.toLowerCase();
      let rec = seeded.get(key);
      if (!rec) seeded.set(key, (rec = this.newRecord(row)));
      await this.insert(rec, row);
    }
  }

  protected abstract refresh(rec: Record, key: bigint): Promise<void>;
  protected abstract insert(rec: Record, row: LegacyRow): Promise<bigint>;
  protected abstract remove(key: bigint): Promise<void>;
  protected abstract newRecord(row: LegacyRow): Record;

  /**
   * The expiry timer, then one REGISTER-like change: refresh 60%, new contact 15% (30% of them
   * for a few seconds only, never refreshed), new AOR 10%, de-registration 15%.
   */
  async churnOnce(): Promise<void> {
    await this.expireDue();
    const all = [...this.records.values()];
    const rec = all.length === 0 ? undefined : all[Math.floor(this.workload.next() * all.length)]!;
    const dice = this.workload.next();
    if (rec && rec.keys.length > 0 && dice < 0.6) {
      const key = rec.keys[Math.floor(this.workload.next() * rec.keys.length)]!;
      await this.refresh(rec, key);
      this.expiring.delete(key);
      this.counts.refreshes++;
    } else if (rec && dice < 0.75) {
      const fresh = this.workload.registration(0);
      const shortLived = this.workload.next() * 100 < SHORT_LIVED;
      if (shortLived) fresh.expires = Math.floor(Date.now() / 1000) + 2 + Math.floor(this.workload.next() * 3);
      const key = await this.insert(rec, {
        ...fresh,
        username: rec.username,
        domain: rec.domain,
        contact: fresh.contact.replace(/^sip:[^@]+@/, `sip:${rec.username}@`),
      });
      rec.keys.push(key);
      if (shortLived) this.expiring.set(key, { aor: rec.username.toLowerCase(), at: fresh.expires });
      this.counts.newContacts++;
    } else if (!rec || dice < 0.85) {
      const row = this.workload.registration(this.nextAor());
      const created = this.newRecord(row);
      this.records.set(created.username.toLowerCase(), created);
      this.created.push(created.username.toLowerCase());
      created.keys.push(await this.insert(created, row));
      this.counts.newAors++;
    } else if (rec.keys.length > 0) {
      const i = Math.floor(this.workload.next() * rec.keys.length);
      await this.remove(rec.keys[i]!);
      this.expiring.delete(rec.keys[i]!);
      rec.keys.splice(i, 1);
      this.counts.deregistrations++;
    }
  }
}

/** A 2.1 registrar (PostgreSQL or MariaDB): auto-increment `id`, DATETIME `expires`. */
export class AutoIdRegistrar extends Registrar {
  constructor(
    private readonly db: SqlSession,
    workload: Workload,
    tz: string,
    nextAor: () => number,
  ) {
    super(workload, tz, nextAor);
  }

  async take(aors: string[]): Promise<void> {
    if (aors.length === 0) return;
    const pg = this.db.kind === 'postgres';
    const expires = pg ? "to_char(expires, 'YYYY-MM-DD HH24:MI:SS')" : "DATE_FORMAT(expires, '%Y-%m-%d %H:%i:%s')";
    const rows = await this.db.query(
      `SELECT ${pg ? 'id::text' : 'CAST(id AS CHAR)'} AS id, username, domain, ${expires} AS expires FROM location WHERE lower(username) IN (${aors.map(() => '?').join(', ')}) ORDER BY id`,
      aors,
    );
    for (const a of aors) this.records.set(a, { username: a, domain: '', keys: [] });
    for (const r of rows) {
      const aor = (r.username as string).toLowerCase();
      const rec = this.records.get(aor)!;
      rec.username = r.username as string;
      rec.domain = r.domain as string;
      rec.keys.push(BigInt(r.id as string));
      this.track(aor, BigInt(r.id as string), Number(localDatetimeToUnix(r.expires as string, this.tz)));
    }
    // AORs with no row left: keep their name (a later new contact re-registers them).
    for (const a of aors) if (this.records.get(a)!.keys.length === 0) this.records.delete(a);
  }

  protected newRecord(row: LegacyRow): Record {
    return { username: row.username, domain: row.domain, keys: [] };
  }

  protected async refresh(_rec: Record, id: bigint): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    await this.db.query(`UPDATE location SET expires = ?, cseq = cseq + 1, last_modified = ? WHERE id = ?`, [
      unixToLocalDatetime(now + 600 + Math.floor(this.workload.next() * 3000), this.tz),
      unixToLocalDatetime(now, this.tz),
      id.toString(),
    ]);
  }

  protected async insert(_rec: Record, row: LegacyRow): Promise<bigint> {
    return this.db.insert(
      `INSERT INTO location (${LEGACY_COLUMNS.join(', ')}) VALUES (${LEGACY_COLUMNS.map(() => '?').join(', ')})`,
      rowValues(row, unixToLocalDatetime(row.expires, this.tz), this.tz),
    );
  }

  protected async remove(id: bigint): Promise<void> {
    await this.db.query('DELETE FROM location WHERE id = ?', [id.toString()]);
  }
}

/**
 * A 2.2+ registrar in caching mode (PostgreSQL or MariaDB). Its record labels for AORs it creates
 * count per hash slot of its own hash_size from 1000, below the 131072 where ulbridge's start, as
 * usrloc's per-slot counters would; AORs it takes over keep the record label of their rows.
 */
export class ContactIdRegistrar extends Registrar {
  private readonly slotLabels = new Map<number, number>();

  constructor(
    private readonly db: SqlSession,
    private readonly profile: ReleaseProfile,
    private readonly hashSize: number,
    workload: Workload,
    tz: string,
    nextAor: () => number,
  ) {
    super(workload, tz, nextAor);
    if (profile.clabelPacking === null) throw new Error(`release ${profile.name} has no contact_id`);
  }

  private hash(username: string): number {
    return coreHash(aorBytes(username, null, { useDomain: false }), 'signed');
  }

  private expiresValue(unix: number): string | number {
    return this.profile.expires === 'unix' ? unix : unixToLocalDatetime(unix, this.tz);
  }

  async take(aors: string[]): Promise<void> {
    if (aors.length === 0) return;
    const pg = this.db.kind === 'postgres';
    const expires =
      this.profile.expires === 'unix'
        ? 'expires'
        : pg
          ? "to_char(expires, 'YYYY-MM-DD HH24:MI:SS')"
          : "DATE_FORMAT(expires, '%Y-%m-%d %H:%i:%s')";
    const rows = await this.db.query(
      `SELECT ${pg ? 'contact_id::text' : 'CAST(contact_id AS CHAR)'} AS id, username, domain, ${expires} AS expires FROM location WHERE lower(username) IN (${aors.map(() => '?').join(', ')}) ORDER BY contact_id`,
      aors,
    );
    for (const r of rows) {
      const aor = (r.username as string).toLowerCase();
      const id = BigInt(r.id as string);
      const unix = this.profile.expires === 'unix' ? Number(r.expires) : Number(localDatetimeToUnix(r.expires as string, this.tz));
      this.track(aor, id, unix);
      const { rlabel, clabel } = unpackContactId(id);
      let rec = this.records.get(aor);
      if (!rec)
        this.records.set(aor, (rec = { username: r.username as string, domain: r.domain as string, keys: [], rlabel, nextClabel: 0 }));
      rec.keys.push(id);
      rec.nextClabel = Math.max(rec.nextClabel!, clabel + 1) & CLABEL_MASK;
    }
  }

  protected newRecord(row: LegacyRow): Record {
    const username = row.username.toLowerCase(); // case_sensitive=0: stored lower-cased
    const slot = this.hash(username) & ((1 << this.hashSize) - 1);
    const rlabel = this.slotLabels.get(slot) ?? 1000;
    this.slotLabels.set(slot, rlabel + 1);
    return { username, domain: row.domain, keys: [], rlabel, nextClabel: 0 };
  }

  protected async refresh(_rec: Record, id: bigint): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    await this.db.query(`UPDATE location SET expires = ?, cseq = cseq + 1, last_modified = ? WHERE contact_id = ?`, [
      this.expiresValue(now + 600 + Math.floor(this.workload.next() * 3000)),
      unixToLocalDatetime(now, this.tz),
      id.toString(),
    ]);
  }

  protected async insert(rec: Record, row: LegacyRow): Promise<bigint> {
    const id = packContactId(
      { aorhash: this.hash(rec.username) & 0xffff, rlabel: rec.rlabel!, clabel: rec.nextClabel! },
      this.profile.clabelPacking!,
    );
    rec.nextClabel = (rec.nextClabel! + 1) & CLABEL_MASK;
    const cols = ['contact_id', ...LEGACY_COLUMNS];
    await this.db.query(`INSERT INTO location (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, [
      id.toString(),
      ...rowValues({ ...row, username: rec.username }, this.expiresValue(row.expires), this.tz),
    ]);
    return id;
  }

  protected async remove(id: bigint): Promise<void> {
    await this.db.query('DELETE FROM location WHERE contact_id = ?', [id.toString()]);
  }
}
