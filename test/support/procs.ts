/** Process checks for tests that must leave nothing running. */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of live (non-zombie) processes whose command line mentions `needle` (e.g. a stack dir). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmd.includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}
