/** Flags of `npm run soak -- [flags]`. */

export interface SoakOptions {
  /** kill -9 cycles. */
  cycles: number;
  /** Hostile CDC records produced over the run. */
  events: number;
  /** Hostile records per second. */
  rate: number;
  /** Registrar changes per second in the legacy table. */
  churnRate: number;
  /** Legacy rows and AORs seeded before the bridge starts. */
  rows: number;
  aors: number;
  /** Projection batches committed since the last restart before a kill. */
  batches: number;
  /** Random delay after those batches, 0..maxDelayMs, before the kill. */
  maxDelayMs: number;
  /** Random down time after a kill, 0..maxDownMs, before the restart. */
  maxDownMs: number;
  /** Largest hostile record, bytes. */
  maxEventBytes: number;
  seed: number;
  /** Leave the databases, topics and logs in place. */
  keep: boolean;
  /** How long the end may take to catch up, seconds. */
  settleSeconds: number;
}

export const DEFAULTS: SoakOptions = {
  cycles: 100,
  events: 10_000,
  rate: 3.5,
  churnRate: 30,
  rows: 3_000,
  aors: 2_000,
  batches: 3,
  maxDelayMs: 1_500,
  maxDownMs: 1_000,
  maxEventBytes: 256 * 1024,
  seed: 9,
  keep: false,
  settleSeconds: 600,
};

const FLAGS: Record<string, keyof SoakOptions> = {
  '--cycles': 'cycles',
  '--events': 'events',
  '--rate': 'rate',
  '--churn-rate': 'churnRate',
  '--rows': 'rows',
  '--aors': 'aors',
  '--batches': 'batches',
  '--max-delay-ms': 'maxDelayMs',
  '--max-down-ms': 'maxDownMs',
  '--max-event-bytes': 'maxEventBytes',
  '--seed': 'seed',
  '--settle-seconds': 'settleSeconds',
};

export const USAGE = `npm run soak -- [--cycles N (${DEFAULTS.cycles})] [--events N (${DEFAULTS.events})] [--rate EVENTS_PER_S (${DEFAULTS.rate})]
  [--churn-rate CHANGES_PER_S (${DEFAULTS.churnRate})] [--rows N (${DEFAULTS.rows})] [--aors N (${DEFAULTS.aors})]
  [--batches N (${DEFAULTS.batches})] [--max-delay-ms MS (${DEFAULTS.maxDelayMs})] [--max-down-ms MS (${DEFAULTS.maxDownMs})]
  [--max-event-bytes B (${DEFAULTS.maxEventBytes})] [--seed N (${DEFAULTS.seed})] [--settle-seconds S (${DEFAULTS.settleSeconds})] [--keep]`;

export function parseSoakArgs(argv: string[]): SoakOptions {
  const o: SoakOptions = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--keep') {
      o.keep = true;
      continue;
    }
    if (a === '--help' || a === '-h') throw new Error(`usage: ${USAGE}`);
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${a}\nusage: ${USAGE}`);
    const raw = inline ?? argv[++i];
    const n = Number(raw);
    const min = key === 'seed' || key === 'maxDelayMs' || key === 'maxDownMs' || key === 'events' || key === 'cycles' ? 0 : 1;
    if (raw === undefined || !Number.isFinite(n) || n < min || (key !== 'rate' && key !== 'churnRate' && !Number.isInteger(n))) {
      throw new Error(
        `${flag} takes ${key === 'rate' || key === 'churnRate' ? 'a positive number' : `an integer >= ${min}`}, got ${raw ?? 'nothing'}`,
      );
    }
    (o[key] as number) = n;
  }
  if (o.aors > o.rows) throw new Error('--aors must not exceed --rows');
  if (o.maxEventBytes > 900 * 1024) throw new Error('--max-event-bytes must stay under the broker limit of 1 MiB (at most 921600)');
  return o;
}
