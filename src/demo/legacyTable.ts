import pg from 'pg';
import { unixToLocalDatetime } from '../opensips/localTime.js';
import type { LegacyRow, Workload } from './workload.js';

/** The columns a 2.1 registrar writes (every location column but the key), in insert order. */
export const LEGACY_COLUMNS = [
  'username',
  'domain',
  'contact',
  'received',
  'path',
  'expires',
  'q',
  'callid',
  'cseq',
  'last_modified',
  'flags',
  'cflags',
  'user_agent',
  'socket',
  'methods',
  'sip_instance',
  'attr',
];
const TYPES = [
  'text',
  'text',
  'text',
  'text',
  'text',
  'timestamp',
  'real',
  'text',
  'int',
  'timestamp',
  'int',
  'text',
  'text',
  'text',
  'int',
  'text',
  'text',
];

export interface ChurnCounts {
  refreshes: number;
  newContacts: number;
  newAors: number;
  deregistrations: number;
}

/**
 * Writes a 2.1 `location` table in PostgreSQL the way a 2.1 registrar does: inserts with
 * auto-increment ids, refreshes in place, deletes on de-registration. Times are DATETIME in the
 * registrar's zone.
 */
export class LegacyTableWriter {
  private readonly byId = new Map<number, LegacyRow>();
  /** The same rows' ids, in no particular order (a random pick is one index, a removal a swap with the last), and where each is. */
  private readonly ids: number[] = [];
  private readonly slots = new Map<number, number>();
  private nextAor: number;
  readonly counts: ChurnCounts = { refreshes: 0, newContacts: 0, newAors: 0, deregistrations: 0 };

  constructor(
    private readonly client: pg.ClientBase,
    private readonly table: string,
    private readonly workload: Workload,
    private readonly timeZone: string,
    firstNewAor: number,
  ) {
    this.nextAor = firstNewAor;
  }

  private values(rows: LegacyRow[]): unknown[][] {
    const tz = this.timeZone;
    return [
      rows.map((r) => r.username),
      rows.map((r) => r.domain),
      rows.map((r) => r.contact),
      rows.map((r) => r.received),
      rows.map((r) => r.path),
      rows.map((r) => unixToLocalDatetime(r.expires, tz)),
      rows.map((r) => r.q),
      rows.map((r) => r.callid),
      rows.map((r) => r.cseq),
      rows.map((r) => unixToLocalDatetime(r.lastModified, tz)),
      rows.map((r) => r.flags),
      rows.map((r) => r.cflags),
      rows.map((r) => r.userAgent),
      rows.map((r) => r.socket),
      rows.map((r) => r.methods),
      rows.map((r) => r.sipInstance),
      rows.map((r) => r.attr),
    ];
  }

  async insert(rows: LegacyRow[]): Promise<number[]> {
    if (rows.length === 0) return [];
    const args = TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
    const { rows: ids } = await this.client.query(
      `INSERT INTO ${this.table} (${LEGACY_COLUMNS.join(', ')}) SELECT * FROM unnest(${args}) RETURNING id`,
      this.values(rows),
    );
    return ids.map((r, i) => {
      this.remember(r.id as number, rows[i]!);
      return r.id as number;
    });
  }

  /** The rows this writer churns, by id: every row it inserted and has not deleted or forgotten. */
  get rows(): ReadonlyMap<number, LegacyRow> {
    return this.byId;
  }

  /** Leaves a row alone from now on: churn never picks it again (the table keeps it). */
  forget(id: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[slot] = last;
      this.slots.set(last, slot);
    }
    this.slots.delete(id);
    this.byId.delete(id);
  }

  private remember(id: number, row: LegacyRow): void {
    if (!this.slots.has(id)) this.slots.set(id, this.ids.push(id) - 1);
    this.byId.set(id, row);
  }

  /** `count` registrations: AORs 0..aors-1, the rest extra contacts of those AORs. */
  async seed(count: number, aors: number, batchSize = 1000): Promise<void> {
    for (let start = 0; start < count; start += batchSize) {
      const batch: LegacyRow[] = [];
      for (let i = start; i < Math.min(count, start + batchSize); i++) batch.push(this.workload.registration(i < aors ? i : i % aors));
      await this.insert(batch);
    }
  }

  private randomId(): number | undefined {
    const n = this.ids.length;
    return n === 0 ? undefined : this.ids[Math.floor(this.workload.next() * n)];
  }

  /** One registrar-like change: refresh 55%, new contact 15%, new AOR 15%, de-registration 15%. */
  async churnOnce(): Promise<void> {
    const dice = this.workload.next();
    const id = this.randomId();
    if (dice < 0.55 && id !== undefined) {
      const row = this.workload.refresh(this.byId.get(id)!);
      await this.client.query(`UPDATE ${this.table} SET expires = $2::timestamp, cseq = $3, last_modified = $4::timestamp WHERE id = $1`, [
        id,
        unixToLocalDatetime(row.expires, this.timeZone),
        row.cseq,
        unixToLocalDatetime(row.lastModified, this.timeZone),
      ]);
      this.remember(id, row);
      this.counts.refreshes++;
    } else if (dice < 0.7 && id !== undefined) {
      const base = this.byId.get(id)!;
      const fresh = this.workload.registration(0);
      await this.insert([{ ...fresh, username: base.username, domain: base.domain }]);
      this.counts.newContacts++;
    } else if (dice < 0.85 || id === undefined) {
      await this.insert([this.workload.registration(this.nextAor++)]);
      this.counts.newAors++;
    } else {
      await this.client.query(`DELETE FROM ${this.table} WHERE id = $1`, [id]);
      this.forget(id);
      this.counts.deregistrations++;
    }
  }
}
