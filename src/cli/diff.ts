import type { Command } from 'commander';
import { RELEASE_NAMES } from '../opensips/releases.js';
import { parseHashSize } from '../opensips/hashSize.js';
import { EXIT } from '../ops/errors.js';
import { renderDiffHuman, runDiff, type DiffOptions } from '../verify/diff.js';
import { printJson, printLine } from './output.js';
import { intOption } from './options.js';

interface DiffCliOptions {
  source: string;
  sourceTable: string;
  sourceRelease: string;
  sourceTimezone: string;
  sourceCaseSensitive?: boolean;
  target: string;
  targetTable: string;
  targetRelease: string;
  targetTimezone: string;
  hashSize: string;
  useDomain?: boolean;
  unsignedChar?: boolean;
  now?: string;
  details: string;
  json?: boolean;
}

/** Parses the command's options into DiffOptions (no I/O). */
export function diffOptions(opts: DiffCliOptions): DiffOptions {
  return {
    source: {
      url: opts.source,
      table: opts.sourceTable,
      release: opts.sourceRelease,
      timeZone: opts.sourceTimezone,
      caseSensitive: opts.sourceCaseSensitive === true,
    },
    // The target is compared as stored: ulbridge writes the registrar-canonical form, and a row in
    // another form would load but never be found by lookup().
    target: { url: opts.target, table: opts.targetTable, release: opts.targetRelease, timeZone: opts.targetTimezone, caseSensitive: true },
    hashSize: parseHashSize(opts.hashSize),
    useDomain: opts.useDomain === true,
    signedness: opts.unsignedChar ? 'unsigned' : 'signed',
    now: opts.now === undefined ? Math.floor(Date.now() / 1000) : intOption('--now', opts.now, 0, 2 ** 40, 'unix seconds'),
    details: intOption('--details', opts.details, 0, 10_000, 'an integer'),
  };
}

export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .description('compare two location tables (any release, PostgreSQL or MySQL/MariaDB) as sets of bindings, ids excluded')
    .requiredOption('--source <url>', 'source database: postgres://USER[:PASS]@HOST[:PORT]/DB or mysql://... (mariadb:// too)')
    .option('--source-table <name>', 'source location table, optionally schema.table', 'location')
    .requiredOption('--source-release <release>', `OpenSIPS release of the source table: ${RELEASE_NAMES.join(', ')}`)
    .option('--source-timezone <tz>', "source registrar host's IANA zone (DATETIME columns)", 'UTC')
    .option('--source-case-sensitive', 'the source registrar has case_sensitive=1 (default: user parts compare lower-cased)')
    .requiredOption('--target <url>', 'target database URL')
    .option('--target-table <name>', 'target location table, optionally schema.table', 'location')
    .requiredOption('--target-release <release>', `OpenSIPS release of the target table: ${RELEASE_NAMES.join(', ')}`)
    .option('--target-timezone <tz>', "target registrar host's IANA zone (DATETIME columns)", 'UTC')
    .option('--hash-size <n>', 'usrloc hash_size whose slots the per-slot counts use (0-16)', '9')
    .option('--use-domain', 'usrloc use_domain=1: the AOR hashed into a slot is username@domain')
    .option('--unsigned-char', 'slots as an OpenSIPS built with unsigned char (arm64) computes them')
    .option('--now <unix-seconds>', 'judge expiry at this time instead of the current time')
    .option('--details <n>', 'list up to N example bindings per kind of difference', '5')
    .option('--json', 'one JSON document')
    .action(async (opts: DiffCliOptions) => {
      const report = await runDiff(diffOptions(opts));
      if (opts.json) printJson(report);
      else printLine(renderDiffHuman(report));
      process.exitCode = report.equal ? EXIT.ok : EXIT.findings;
    });
}
