/** Deterministic, realistic AORs for benches: plain users, user@domain, E.164 numbers, UTF-8 names. */

import { rng as prng } from '../src/demo/workload.js';

/** The workload generator's seedable PRNG (mulberry32), shared by the benches. */
export { prng };

const FIRST = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'oscar',
  'peggy',
  'trent',
  'victor',
  'walter',
];
const LAST = ['smith', 'jones', 'müller', 'garcía', 'nguyen', 'kowalski', 'rossi', 'dubois', 'svensson', 'novak'];
const DOMAINS = ['example.com', 'voip.example.org', 'sip.carrier.example.net', 'pbx.exämple.de', 'tenant42.cloud.example'];

/** n AORs; `i`-th is stable across runs. */
export function makeAors(n: number, seed = 42): string[] {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = rnd();
    if (k < 0.4) out.push(`user${100000 + i}`);
    else if (k < 0.8) out.push(`${pick(FIRST)}.${pick(LAST)}${i}@${pick(DOMAINS)}`);
    else if (k < 0.9) out.push(`+49${String(1510000000 + i).padStart(10, '0')}`);
    else out.push(`josé.${pick(LAST)}${i}@${pick(DOMAINS)}`);
  }
  return out;
}
