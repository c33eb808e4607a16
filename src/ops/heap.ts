import v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept: 1.5x instead of
 * V8's own factor (up to 4x when allocation is fast, as it is while events stream through). The
 * projection keeps ~45 MB live at any table size; with V8's factor `ulbridge run` still reached
 * 300-410 MiB resident, with 1.5x about 200 (docs/performance.md, "Memory").
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growing factor for a long-running service, unless the operator chose one
 * (`--heap-growing-percent` on the command line or in NODE_OPTIONS). V8 reads the flag each time
 * it sizes the heap after a collection, so setting it at start-up takes effect. Returns whether it
 * was set.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if ([...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
