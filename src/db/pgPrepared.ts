import type pg from 'pg';
import { postgresDialect } from './dialect.js';
import { arrayParams } from './pgArray.js';

/**
 * A statement with parameters as a named (server-side prepared) statement. PostgreSQL then parses
 * and analyses it once per connection instead of on every call, and may keep one generic plan for
 * it. For the set-based writes from UNNEST arrays (below the COPY threshold) the generic plan is
 * also the better one: it probes the table's key for each array row (nested loop), where a plan
 * made for a long array can hash the whole table. Measured on a 20,000-row 4.0 table
 * (docs/performance.md, "Prepared statements"): a transaction reading 190 bindings and updating
 * 190 rows took 5.4-5.6 ms of the server's CPU unnamed, 1.6-1.7 ms named.
 *
 * The name stands for exactly one text in this process, so it never names two statements on one
 * connection (pg refuses that). Only texts that are the same on every call belong here (values go
 * in `values`); past MAX_NAMES distinct texts, statements run unnamed rather than grow the map.
 * Array values go as one literal each (src/db/pgArray.ts).
 */
export function prepared(text: string, values: readonly unknown[]): pg.QueryConfig {
  const params = arrayParams(values);
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_NAMES) return { text, values: params };
    name = `ulbridge_${names.size + 1}`;
    names.set(text, name);
  }
  return { name, text, values: params };
}

const MAX_NAMES = 1000;
const names = new Map<string, string>();

/** The names each connection holds: a statement from prepared() that ran on it (runPrepared). */
const preparedOn = new WeakMap<pg.ClientBase, Set<string>>();

/** Runs a statement from prepared() and notes that this connection now holds it. */
export async function runPrepared(client: pg.ClientBase, config: pg.QueryConfig): Promise<pg.QueryResult> {
  const result = await client.query(config);
  if (config.name !== undefined) {
    let names = preparedOn.get(client);
    if (!names) preparedOn.set(client, (names = new Set()));
    names.add(config.name);
  }
  return result;
}

/**
 * The same statement as SQL text, `EXECUTE name('...', ...)`, to send in a simple query beside
 * others (e.g. with COMMIT) and still run on its prepared plan; null when this connection does not
 * hold it yet (runPrepared) or a value is not text (array parameters are, as prepared() writes them).
 */
export function executeSql(client: pg.ClientBase, config: pg.QueryConfig): string | null {
  if (config.name === undefined || !preparedOn.get(client)?.has(config.name)) return null;
  const values: unknown[] = config.values ?? [];
  if (!values.every((v) => typeof v === 'string' || v === null)) return null;
  return `EXECUTE ${config.name}(${values.map((v) => (v === null ? 'NULL' : postgresDialect.literal(v))).join(', ')})`;
}
