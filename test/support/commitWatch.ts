/**
 * Watching a projection commit batches, from the target database: every batch commits its
 * partition's row of `<stateSchema>.offsets` (next_offset, updated_at = the transaction's start)
 * with the rows it applied. Crash tests use it to kill `ulbridge run` only once it has committed
 * N batches since it was started, i.e. in steady apply, not during start-up.
 */
import assert from 'node:assert/strict';
import { withPg } from './services.js';

/** Partition -> "next_offset|updated_at" of a target's offsets rows (empty without the table). */
export async function offsetsMark(url: string, schema: string): Promise<Map<number, string>> {
  return withPg(url, async (c) => {
    const { rows: ok } = await c.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`${schema}.offsets`]);
    if (!ok[0].ok) return new Map();
    const { rows } = await c.query(`SELECT partition, next_offset::text || '|' || updated_at::text AS v FROM "${schema}".offsets`);
    return new Map(rows.map((r) => [r.partition as number, r.v as string]));
  });
}

/**
 * Polls the offsets rows until at least `n` commits were seen since `since` (a mark taken before
 * the process started): each change of a partition's row between two polls counts as one commit
 * (a lower bound: two commits between polls count once). `between(seen)` runs before every poll
 * (e.g. registrar traffic). Fails after `timeoutMs` naming `what`. Returns the commits seen.
 */
export async function waitForCommittedBatches(
  url: string,
  schema: string,
  since: Map<number, string>,
  n: number,
  opts: { timeoutMs?: number; what?: string; between?: (seen: number) => Promise<void> } = {},
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const last = new Map(since);
  let seen = 0;
  while (seen < n) {
    assert.ok(Date.now() < deadline, `${opts.what ?? 'projection'}: ${seen} of ${n} batches committed within ${timeoutMs} ms of its start`);
    if (opts.between) await opts.between(seen);
    else await new Promise((r) => setTimeout(r, 25));
    for (const [p, v] of await offsetsMark(url, schema)) {
      if (last.get(p) !== v) {
        seen++;
        last.set(p, v);
      }
    }
  }
  return seen;
}
