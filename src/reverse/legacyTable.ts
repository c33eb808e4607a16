import type { DbConnection } from '../db/connection.js';
import { parseTableName, type TableName } from '../db/table.js';
import type { Registration } from '../log/event.js';
import type { BindingVersion } from '../log/version.js';
import { localDatetimeToUnix } from '../opensips/localTime.js';
import type { ReleaseProfile } from '../opensips/releases.js';
import { locationRowValues } from '../project/targetRow.js';

/**
 * Writes of reverse sync into a legacy `location` table keyed by an auto-increment `id` (2.1), on
 * PostgreSQL or MySQL/MariaDB, through one session. The caller brackets them in begin()/commit().
 */
export class LegacyTable {
  private readonly table: string;
  /** The quoted key column (`id`: the database assigns it). */
  private readonly key: string;
  private readonly columns: string[];

  constructor(
    private readonly db: DbConnection,
    table: string,
    private readonly profile: ReleaseProfile,
    private readonly timeZone: string,
  ) {
    const t: TableName = parseTableName(table);
    this.table = db.dialect.table(t);
    this.key = db.dialect.quoteIdent(profile.keyColumn);
    this.columns = profile.columns.map((c) => c.name).filter((c) => c !== profile.keyColumn);
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

  /** Current versions of the rows with these ids, locked until commit. */
  async lockVersions(ids: readonly bigint[]): Promise<Map<bigint, BindingVersion>> {
    const map = new Map<bigint, BindingVersion>();
    if (ids.length === 0) return map;
    const d = this.db.dialect;
    const list = ids.map((_, i) => d.param(i + 1)).join(', ');
    const rows = await this.db.query<{ id: string | number | bigint; callid: string; cseq: number; lm: string }>(
      `SELECT ${this.key} AS id, callid, cseq, ${d.datetimeText('last_modified')} AS lm FROM ${this.table} WHERE ${this.key} IN (${list}) ORDER BY ${this.key} FOR UPDATE`,
      ids.map(String),
    );
    for (const r of rows)
      map.set(BigInt(r.id), { callid: r.callid, cseq: Number(r.cseq), lastModified: localDatetimeToUnix(r.lm, this.timeZone) });
    return map;
  }

  /** Inserts the binding as a new row and returns the id the database gave it. */
  async insert(reg: Registration): Promise<bigint> {
    const d = this.db.dialect;
    const cols = this.columns.map((c) => d.quoteIdent(c)).join(', ');
    const params = this.columns.map((_, i) => d.param(i + 1)).join(', ');
    if (d.name === 'postgres') {
      const rows = await this.db.query<{ id: string | bigint }>(
        `INSERT INTO ${this.table} (${cols}) VALUES (${params}) RETURNING ${this.key} AS id`,
        this.values(reg),
      );
      return BigInt(rows[0]!.id);
    }
    const result = (await this.db.query(`INSERT INTO ${this.table} (${cols}) VALUES (${params})`, this.values(reg))) as unknown as {
      insertId: number | string;
    };
    return BigInt(result.insertId);
  }

  async update(id: bigint, reg: Registration): Promise<void> {
    const d = this.db.dialect;
    const sets = this.columns.map((c, i) => `${d.quoteIdent(c)} = ${d.param(i + 1)}`).join(', ');
    await this.db.query(`UPDATE ${this.table} SET ${sets} WHERE ${this.key} = ${d.param(this.columns.length + 1)}`, [
      ...this.values(reg),
      id.toString(),
    ]);
  }

  async delete(id: bigint): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE ${this.key} = ${this.db.dialect.param(1)}`, [id.toString()]);
  }

  /** Column values (key column excluded) in the legacy release's format: DATETIMEs in its zone. */
  private values(reg: Registration): unknown[] {
    // A 2.1 table has NOT NULL '' defaults where the log has null (domain without use_domain).
    const all = locationRowValues(this.profile, this.timeZone, { ...reg, domain: reg.domain ?? '' });
    const byName = new Map(this.profile.columns.map((c, i) => [c.name, all[i]]));
    return this.columns.map((c) => {
      const v = byName.get(c);
      return typeof v === 'bigint' ? v.toString() : (v ?? null);
    });
  }
}
