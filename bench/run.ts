/**
 * `npm run bench [-- SECTION...] [--scale N]`: a script, not a test. Runs the bench sections in one
 * process and prints one table of figures, so compared figures come from the same run.
 *
 * Services, started only when a section asks for them:
 *   PostgreSQL: $ULBRIDGE_BENCH_PG_URL (a superuser URL; scratch tables are created and dropped in
 *               that database), else a throwaway server started with src/stack (startStack);
 *   Kafka:      $ULBRIDGE_BENCH_KAFKA_BROKERS (comma-separated), else a throwaway broker likewise.
 * Throwaway services are stopped at the end.
 */
import { section as coreHash } from './core-hash.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';
import { section as verify } from './verify.js';
import { section as bridge } from './bridge.js';
import { section as reverse } from './reverse.js';
import { section as ingest } from './ingest.js';
import { section as e2e } from './e2e.js';

/** Every section, in run order. Add new ones here (e.g. bench/bridge.ts). */
const SECTIONS: BenchSection[] = [coreHash, verify, ingest, bridge, reverse, e2e];

interface StackHandle {
  postgres?: { url: string };
  kafka?: { brokers: string[] };
  stop(): Promise<void>;
}

type StartStack = (o: { services: string[]; log?: (l: string) => void }) => Promise<StackHandle>;

/** src/stack, loaded only when a throwaway service is needed. */
async function loadStartStack(): Promise<StartStack> {
  const stackModule = '../src/stack/index.js';
  return ((await import(stackModule)) as { startStack: StartStack }).startStack;
}

function parseArgs(argv: string[]): { names: string[]; scale: number } {
  const names: string[] = [];
  let scale = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--scale') {
      scale = Number(argv[++i]);
      if (!(scale > 0)) throw new Error('--scale takes a positive number');
    } else if (a === '--rows') {
      i++; // the e2e section's table size (bench/e2e.ts reads it)
    } else if (a.startsWith('-')) {
      throw new Error(`unknown option ${a}: npm run bench [-- SECTION...] [--scale N]`);
    } else {
      names.push(a);
    }
  }
  const known = SECTIONS.map((s) => s.name);
  for (const n of names) if (!known.includes(n)) throw new Error(`unknown section ${n}: sections are ${known.join(', ')}`);
  return { names, scale };
}

function format(f: BenchFigure): string {
  if (f.unit === 'ratio') return f.value.toFixed(2);
  if (f.value >= 100) return Math.round(f.value).toLocaleString('en-US');
  return f.value.toFixed(1);
}

function table(rows: Array<[string, BenchFigure]>): string {
  const cells = rows.map(([s, f]) => [s, f.figure, format(f), f.unit, f.note ?? '']);
  const header = ['SECTION', 'FIGURE', 'VALUE', 'UNIT', 'HOW'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { names, scale } = parseArgs(process.argv.slice(2));
  const chosen = names.length ? SECTIONS.filter((s) => names.includes(s.name)) : SECTIONS;
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  const stacks: StackHandle[] = [];
  let pgUrl: string | null = process.env.ULBRIDGE_BENCH_PG_URL ?? null;
  let brokers: string[] | null =
    process.env.ULBRIDGE_BENCH_KAFKA_BROKERS?.split(',')
      .map((b) => b.trim())
      .filter(Boolean) ?? null;
  const ctx: BenchContext = {
    scale,
    log,
    async postgresUrl() {
      if (pgUrl) return pgUrl;
      log('starting a throwaway PostgreSQL (src/stack); set ULBRIDGE_BENCH_PG_URL to use an existing server');
      const stack = await (await loadStartStack())({ services: ['postgres'], log });
      stacks.push(stack);
      pgUrl = stack.postgres?.url ?? null;
      if (!pgUrl) throw new Error('the stack started no PostgreSQL');
      return pgUrl;
    },
    async kafkaBrokers() {
      if (brokers && brokers.length > 0) return brokers;
      log('starting a throwaway Kafka (src/stack); set ULBRIDGE_BENCH_KAFKA_BROKERS to use an existing cluster');
      const stack = await (await loadStartStack())({ services: ['kafka'], log });
      stacks.push(stack);
      brokers = stack.kafka?.brokers ?? null;
      if (!brokers || brokers.length === 0) throw new Error('the stack started no Kafka');
      return brokers;
    },
  };
  const results: Array<[string, BenchFigure]> = [];
  try {
    for (const s of chosen) {
      log(`section ${s.name}`);
      for (const f of await s.run(ctx)) results.push([s.name, f]);
    }
  } finally {
    for (const stack of stacks.reverse()) await stack.stop();
  }
  process.stdout.write(`${table(results)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
