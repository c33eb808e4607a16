import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_STALL_MS, waitForConvergence } from '../../src/demo/demo.js';
import type { BindingDiff } from '../../src/verify/bindingSet.js';

/**
 * The demo's wait for the target (src/demo/demo.ts waitForConvergence), on a fake clock: no fixed
 * deadline (issue 10: 200k rows "did not converge in 180 s" while the bridge was still moving),
 * the expensive full comparison only when the row count can match or every 30 s, and a clear
 * give-up when the target stops moving.
 */

function diff(equal: boolean, onlyInSource = 0): BindingDiff {
  const side = { rows: 0, live: 0, expired: 0 };
  return { equal, source: side, target: side, onlyInSource, onlyInTarget: 0, examples: { onlyInSource: [], onlyInTarget: [] } };
}

function clock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => void (t += ms),
    get t() {
      return t;
    },
  };
}

test('a target that fills for 10 minutes converges; no full comparison while the count moves', async () => {
  const c = clock();
  const rows = 1_000_000;
  let compares = 0;
  const lines: string[] = [];
  const result = await waitForConvergence({
    count: async () => Math.min(rows, Math.floor((c.t / 600_000) * rows)), // 600 s to fill
    compare: async () => {
      compares++;
      return diff(c.t >= 600_000, rows);
    },
    sourceRows: rows,
    say: (l) => lines.push(l),
    now: c.now,
    sleep: c.sleep,
  });
  assert.equal(result.diff.equal, true);
  assert.ok(c.t >= 600_000 && c.t < 601_000, `converged at ${c.t} ms`);
  assert.equal(compares, 1, 'one full comparison, when the count reached the source');
  assert.ok(
    lines.some((l) => /^target [\d,]+ of 1,000,000 rows$/.test(l)),
    'progress lines',
  );
  assert.ok(!lines.some((l) => l.includes('did not converge')));
});

test('a target whose row count stops moving is given up after the stall period, saying how far it got', async () => {
  const c = clock();
  const lines: string[] = [];
  const result = await waitForConvergence({
    count: async () => Math.min(148_910, Math.floor(c.t * 10)),
    compare: async () => diff(false, 51_214),
    sourceRows: 200_124,
    say: (l) => lines.push(l),
    now: c.now,
    sleep: c.sleep,
  });
  assert.equal(result.diff.equal, false);
  assert.ok(c.t > 14_891 + DEMO_STALL_MS && c.t < 14_891 + DEMO_STALL_MS + 2000, `gave up at ${c.t} ms`);
  assert.match(lines.at(-1)!, /^target did not converge: its row count stayed at 148,910 for 120 s; 51214 bindings only in the source/);
});

test('a target that can never reach the source row count (expired bindings) converges by a comparison once its count settled', async () => {
  const c = clock();
  const result = await waitForConvergence({
    count: async () => Math.min(900, Math.floor(c.t / 10)), // 100 expired source bindings have no target row
    compare: async () => diff(c.t >= 9000),
    sourceRows: 1000,
    say: () => undefined,
    now: c.now,
    sleep: c.sleep,
  });
  assert.equal(result.diff.equal, true);
  assert.ok(c.t >= 19_000 && c.t < 20_000, `converged 10 s after the count settled at 9 s: ${c.t} ms`);
});

test('the target equalled the source when the deciding comparison started, not when its seconds of reading ended', async () => {
  const c = clock();
  const result = await waitForConvergence({
    count: async () => Math.min(200_000, Math.floor(c.t * 10)), // complete at 20 s
    compare: async () => {
      const at = c.t;
      await c.sleep(4000); // reading both tables
      return diff(at >= 20_000);
    },
    sourceRows: 200_000,
    say: () => undefined,
    now: c.now,
    sleep: c.sleep,
  });
  assert.equal(result.diff.equal, true);
  assert.equal(result.at, 20_000);
  assert.equal(c.t, 24_000);
});
