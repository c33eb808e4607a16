import type pg from 'pg';
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
