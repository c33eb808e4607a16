import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './section.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The node arguments of `ulbridge run --config FILE`: the built CLI (bin/ulbridge.js), as operators
 * run it (`npm run bench` builds first), after the node flags in ULBRIDGE_BENCH_CHILD_ARGS, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/p".
 */
export function ulbridgeRunArgs(configFile: string): string[] {
  const extra = (process.env.ULBRIDGE_BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, join(root, 'bin/ulbridge.js'), 'run', '--config', configFile];
}

/** Peak resident set (VmHWM) of a process in MiB so far, from /proc; null once the process is gone. */
export function peakRssMiB(pid: number): number | null {
  const file = `/proc/${pid}/status`;
  if (!existsSync(file)) return null;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(file, 'utf8'));
  return m ? Number(m[1]) / 1024 : null;
}

/** User + system CPU seconds a process has used so far (/proc/PID/stat, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A MariaDB server: $ULBRIDGE_BENCH_MYSQL_URL (a root URL), else a throwaway one (src/stack). */
export async function mariaDbServer(ctx: BenchContext): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.ULBRIDGE_BENCH_MYSQL_URL;
  if (given) return { url: given, stop: async () => undefined };
  ctx.log('starting a throwaway MariaDB (src/stack); set ULBRIDGE_BENCH_MYSQL_URL to use an existing server');
  const stackModule = '../src/stack/index.js';
  const { startStack } = (await import(stackModule)) as {
    startStack: (o: { services: string[]; log?: (l: string) => void }) => Promise<{ mariadb?: { url: string }; stop(): Promise<void> }>;
  };
  const stack = await startStack({ services: ['mariadb'], log: ctx.log });
  if (!stack.mariadb) throw new Error('the stack started no MariaDB');
  return { url: stack.mariadb.url, stop: () => stack.stop() };
}
