/**
 * What a bench section is: a module under bench/ exporting `section: BenchSection`. bench/run.ts
 * runs the listed sections in order, in one process, and prints every figure in one table, so
 * figures that are compared (a throughput and its floor) are measured side by side in one run.
 *
 * To add one (e.g. bench/bridge.ts): export `section` from the module and append it to SECTIONS
 * in bench/run.ts.
 */

export interface BenchFigure {
  /** What was measured, e.g. "verify (full report)". */
  figure: string;
  value: number;
  /** e.g. "rows/s", "hashes/s", "ratio", "MiB". */
  unit: string;
  /** How it was measured, shown beside the value. */
  note?: string;
}

export interface BenchContext {
  /** Superuser URL of a PostgreSQL server to create scratch tables in (started on first use). */
  postgresUrl(): Promise<string>;
  /** Bootstrap brokers of a Kafka cluster for scratch topics (started on first use). */
  kafkaBrokers(): Promise<string[]>;
  /** Progress line on stderr. */
  log(line: string): void;
  /** Scale factor from --scale (default 1): sections multiply their sizes by it. */
  scale: number;
}

export interface BenchSection {
  /** Short name, used to select sections: `npm run bench -- core-hash`. */
  name: string;
  run(ctx: BenchContext): Promise<BenchFigure[]>;
}

/** Runs fn repeatedly for about `ms` milliseconds; returns calls per second. */
export function measure(fn: () => number, ms: number): { perSecond: number; calls: number; work: number } {
  let calls = 0;
  let work = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed: bigint;
  do {
    work += fn();
    calls++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return { perSecond: (work / Number(elapsed)) * 1e9, calls, work };
}

/** Wall-clock seconds of an async step. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}
