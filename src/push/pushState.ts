import type { DbConnection } from '../db/connection.js';
import type { Dialect } from '../db/dialect.js';

/**
 * What the cluster push last knew of each registrar node, kept in the target's state schema
 * (table push_nodes) so that `ulbridge status`, a separate process, can report it. Times are Unix
 * milliseconds (no time zone in play on either dialect).
 */
export interface PushNodeRow {
  nodeId: number;
  url: string;
  up: boolean;
  /** The last up/down transition. */
  sinceMs: number;
  /** Down -> up transitions so far (each one replays the table to the node). */
  ups: number;
  replaying: boolean;
  /** When changes were last written to the node, and their latency from the source commit. */
  pushedAtMs: number | null;
  latencyMs: number | null;
  updatedAtMs: number;
}

function tableOf(d: Dialect, stateSchema: string): string {
  return `${d.quoteIdent(stateSchema)}.${d.quoteIdent('push_nodes')}`;
}

export async function ensurePushState(db: DbConnection, stateSchema: string): Promise<void> {
  const d = db.dialect;
  const bool = d.name === 'postgres' ? 'boolean' : 'TINYINT(1)';
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${tableOf(d, stateSchema)} (
       node_id integer PRIMARY KEY,
       url varchar(255) NOT NULL,
       up ${bool} NOT NULL,
       since_ms bigint NOT NULL,
       ups integer NOT NULL,
       replaying ${bool} NOT NULL,
       pushed_at_ms bigint,
       latency_ms bigint,
       updated_at_ms bigint NOT NULL
     )`,
  );
}

const COLUMNS = ['node_id', 'url', 'up', 'since_ms', 'ups', 'replaying', 'pushed_at_ms', 'latency_ms', 'updated_at_ms'];

export async function writePushState(db: DbConnection, stateSchema: string, rows: PushNodeRow[]): Promise<void> {
  if (rows.length === 0) return;
  const d = db.dialect;
  const params: unknown[] = [];
  const tuples = rows.map((r) => {
    const values = [r.nodeId, r.url, r.up, r.sinceMs, r.ups, r.replaying, r.pushedAtMs, r.latencyMs, r.updatedAtMs];
    return `(${values.map((v) => (params.push(v), d.param(params.length))).join(', ')})`;
  });
  const cols = COLUMNS.map((c) => d.quoteIdent(c));
  const update =
    d.name === 'postgres'
      ? `ON CONFLICT (node_id) DO UPDATE SET ${cols
          .slice(1)
          .map((c) => `${c} = EXCLUDED.${c}`)
          .join(', ')}`
      : `ON DUPLICATE KEY UPDATE ${cols
          .slice(1)
          .map((c) => `${c} = VALUES(${c})`)
          .join(', ')}`;
  await db.query(`INSERT INTO ${tableOf(d, stateSchema)} (${cols.join(', ')}) VALUES ${tuples.join(', ')} ${update}`, params);
}

/** The rows, or null when the table does not exist (the push never ran against this target). */
export async function readPushState(db: DbConnection, stateSchema: string): Promise<PushNodeRow[] | null> {
  const d = db.dialect;
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await db.query(`SELECT ${COLUMNS.map((c) => d.quoteIdent(c)).join(', ')} FROM ${tableOf(d, stateSchema)} ORDER BY node_id`);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '42P01' || code === 'ER_NO_SUCH_TABLE' || code === '3F000' || code === 'ER_BAD_DB_ERROR') return null;
    throw e;
  }
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    nodeId: Number(r.node_id),
    url: String(r.url),
    up: Boolean(Number(r.up)) || r.up === true,
    sinceMs: Number(r.since_ms),
    ups: Number(r.ups),
    replaying: Boolean(Number(r.replaying)) || r.replaying === true,
    pushedAtMs: num(r.pushed_at_ms),
    latencyMs: num(r.latency_ms),
    updatedAtMs: Number(r.updated_at_ms),
  }));
}
