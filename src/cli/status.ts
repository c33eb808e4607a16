import type { Command } from 'commander';
import { loadConfig } from '../ops/config.js';
import { EXIT, UlbridgeError } from '../ops/errors.js';
import { runStatus } from '../service/status.js';
import { renderStatusHuman } from '../service/statusVerdict.js';
import { printJson, printLine } from './output.js';

/** --dead-letters-since: ISO 8601 (2026-11-29T15:00:00Z) or unix seconds; returns unix ms. */
export function parseSince(raw: string): number {
  const s = raw.trim();
  const ms = /^\d{1,12}$/.test(s) ? Number(s) * 1000 : /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UlbridgeError(
      'BAD_DEAD_LETTERS_SINCE',
      `--dead-letters-since must be an ISO 8601 time (e.g. 2026-11-29T15:00:00Z) or unix seconds, got "${raw}"`,
    );
  }
  return ms;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("lag per stage and partition, dead letters, last apply, each target's verify, and a cut-over readiness verdict")
    .requiredOption('--config <file>', 'the JSON config of ulbridge run (see docs/configuration.md)')
    .option(
      '--dead-letters-since <time>',
      'count only dead letters written at or after this time (ISO 8601 or unix seconds): the time you last reviewed them',
    )
    .option('--json', 'one JSON document')
    .action(async (opts: { config: string; deadLettersSince?: string; json?: boolean }) => {
      const since = opts.deadLettersSince === undefined ? null : parseSince(opts.deadLettersSince);
      const cfg = loadConfig(opts.config);
      const report = await runStatus({ config: cfg, deadLettersSinceMs: since });
      if (opts.json) printJson(report);
      else printLine(renderStatusHuman(report));
      process.exitCode = report.ready ? EXIT.ok : EXIT.findings;
    });
}
