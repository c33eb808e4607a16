/** Deterministic, realistic AORs for benches: plain users, user@domain, E.164 numbers, UTF-8 names. */

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar', 'peggy', 'trent', 'victor', 'walter'];
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
