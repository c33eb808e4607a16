import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../../src/ops/heap.js';

test('the heap growing factor is left to the operator when given on the command line or in NODE_OPTIONS', () => {
  assert.equal(limitHeapGrowth(['--heap-growing-percent=20'], ''), false);
  assert.equal(limitHeapGrowth(['--heap_growing_percent', '20'], ''), false);
  assert.equal(limitHeapGrowth([], '--max-old-space-size=512 --heap-growing-percent=80'), false);
  assert.equal(HEAP_GROWING_PERCENT, 50);
});

// The effect, in a child process: old space after a burst of short-lived allocation over a 40 MB
// live set. With V8's own factor it grows to several times the live set; with 1.5x it stays near it.
test('limitHeapGrowth keeps the old generation near 1.5x of what survives', () => {
  const child = (limit: boolean): number => {
    const script = `
      ${limit ? `import { limitHeapGrowth } from ${JSON.stringify(new URL('../../src/ops/heap.ts', import.meta.url).href)}; if (!limitHeapGrowth([], '')) process.exit(3);` : ''}
      import v8 from 'node:v8';
      const live = []; for (let i = 0; i < 400_000; i++) live.push({ a: 'x' + i, b: [i, i + 1], c: { d: i } });
      let keep = []; let peak = 0;
      for (let round = 0; round < 200; round++) {
        const batch = []; for (let i = 0; i < 20_000; i++) batch.push({ s: 'y' + i, n: [i, round], o: { p: i } });
        keep.push(batch); if (keep.length > 4) keep.shift();
        const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size;
        if (old > peak) peak = old;
      }
      process.stdout.write(String(Math.round(peak / 1048576)) + ' ' + live.length);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    return Number(out.split(' ')[0]);
  };
  const unlimited = child(false);
  const limited = child(true);
  assert.ok(limited < unlimited * 0.8, `old space peak: ${limited} MiB with the limit, ${unlimited} MiB without`);
});
