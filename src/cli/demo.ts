import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { runDemo, type DemoReport } from '../demo/demo.js';
import { contactIdRelease } from '../opensips/releases.js';
import { parseHashSize } from '../opensips/hashSize.js';
import { UlbridgeError } from '../ops/errors.js';
import { renderHuman } from '../verify/report.js';
import { printJson, printLine } from './output.js';

interface DemoCliOptions {
  rows: string;
  churnSeconds: string;
  churnRate: string;
  targetRelease: string;
  hashSize: string;
  keep?: boolean;
  json?: boolean;
  seed: string;
}

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max)
    throw new UlbridgeError('BAD_OPTION', `--${name} must be an integer from 1 to ${max}, got "${raw}"`);
  return n;
}

function renderDemo(r: DemoReport): string {
  const c = r.bridge.comparison;
  const lines = [
    '',
    '== ulbridge demo report ==',
    `source  2.1 table: ${r.source.rowsSeeded.toLocaleString('en')} seeded; churn ${r.source.churn.refreshes} refreshes, ${r.source.churn.newContacts} new contacts, ${r.source.churn.newAors} new AORs, ${r.source.churn.deregistrations} de-registrations; ${c.source.rows.toLocaleString('en')} rows now (${c.source.live.toLocaleString('en')} live bindings, ${c.source.expired} expired)`,
    `target  ${r.target.release} table: ${c.target.rows.toLocaleString('en')} rows (${c.target.live.toLocaleString('en')} live bindings), hash_size ${r.target.hashSize}`,
    `bridge  ${c.equal ? 'target equals source' : `DIFFERENT: ${c.onlyInSource} bindings only in source, ${c.onlyInTarget} only in target`} (caught up ${(r.bridge.caughtUpMs / 1000).toFixed(1)} s after churn stopped, ${(r.bridge.convergedMs / 1000).toFixed(1)} s after the connector started), ${r.bridge.deadLetters} dead letters`,
    '',
    renderHuman(r.verify),
  ];
  if (r.stack) {
    const cfg = r.configFile ?? 'bridge.json';
    lines.push(
      '',
      `stack kept in ${r.stack.dir}: Kafka ${r.stack.kafka.join(',')}, Connect ${r.stack.connect}`,
      `source ${r.source.url}`,
      `target ${r.target.url}`,
      `bridge config: ${cfg}`,
      'try:',
      `  ulbridge connect status --config ${cfg}`,
      `  ulbridge status --config ${cfg}`,
      `  ulbridge diff --source ${r.source.url} --source-release 2.1 --target ${r.target.url} --target-release ${r.target.release} --hash-size ${r.target.hashSize}`,
      `  ulbridge run --config ${cfg}`,
      'end it with: ulbridge stack down',
    );
  }
  lines.push('', r.ok ? 'RESULT: OK — 0 rejected, 0 ambiguous labels, target equals source' : 'RESULT: FAILED — see above');
  return lines.join('\n');
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('end-to-end demo on a local stack: 2.1 table with churn -> bridge -> 2.2+ table -> verify report')
    .option('--rows <n>', 'registrations seeded into the 2.1 table', '10000')
    .option('--churn-seconds <n>', 'how long the registrar-like churn runs while the bridge streams', '20')
    .option('--churn-rate <n>', 'changes per second during churn', '200')
    .option('--target-release <r>', 'release of the target table: 2.2, 2.3, 2.4, 3.x or 4.0', '4.0')
    .option('--hash-size <n>', 'usrloc hash_size of the target registrar', '9')
    .option('--seed <n>', 'seed of the generated data', '42')
    .option('--keep', 'leave the stack and tables running and print their URLs (`ulbridge stack down` ends them)')
    .option('--json', 'print the final report as one JSON document')
    .action(async (opts: DemoCliOptions) => {
      // Every option is checked before anything is created or printed.
      const options = {
        rows: positiveInt('rows', opts.rows, 10_000_000),
        churnSeconds: positiveInt('churn-seconds', opts.churnSeconds, 3600),
        churnRate: positiveInt('churn-rate', opts.churnRate, 10_000),
        targetRelease: contactIdRelease(opts.targetRelease).name,
        hashSize: parseHashSize(opts.hashSize),
        keep: opts.keep ?? false,
        seed: positiveInt('seed', opts.seed, 2 ** 31),
      };
      // The clients' own log lines (Kafka, the bridge) go to a file, not between the progress lines.
      const dir = mkdtempSync(join(tmpdir(), 'ulbridge-demo-'));
      const logFile = join(dir, 'demo.log');
      const progress = (line: string): void => void process.stderr.write(`ulbridge demo: ${line}\n`);
      progress(`client logs: ${logFile}`);
      const report = await runDemo({
        ...options,
        configFile: join(dir, 'bridge.json'),
        progress,
        logger: pino(
          { level: process.env.ULBRIDGE_LOG_LEVEL ?? 'info', base: { app: 'ulbridge' }, timestamp: pino.stdTimeFunctions.isoTime },
          pino.destination({ dest: logFile, sync: true }),
        ),
      });
      if (opts.json) printJson(report);
      else printLine(renderDemo(report));
      if (!report.ok) process.exitCode = 1;
    });
}
