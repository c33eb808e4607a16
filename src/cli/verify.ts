import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { parseHashSize } from '../opensips/hashSize.js';
import { EXIT } from '../ops/errors.js';
import { checkTimeZone } from '../verify/expiry.js';
import { verifiableReleases, verifyProfile } from '../verify/release.js';
import { renderHuman } from '../verify/report.js';
import { runVerify, type VerifyProgress } from '../verify/verify.js';
import { printJson, printLine } from './output.js';
import { intOption } from './options.js';

interface VerifyCliOptions {
  db: string;
  table: string;
  release: string;
  hashSize: string;
  useDomain?: boolean;
  unsignedChar?: boolean;
  timezone: string;
  now?: string;
  details: string;
  batchSize: string;
  json?: boolean;
}

/** A bar on stderr when it is a terminal; otherwise progress is not shown or logged anywhere. */
function progressBar(): VerifyProgress | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'verify |{bar}| {percentage}% | {value}/{total} rows | {speed} rows/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let seen = 0;
  return {
    start(estimate) {
      bar.start(estimate ?? 0, 0, { speed: 0 });
    },
    rows(n) {
      seen += n;
      const total = bar.getTotal();
      if (seen > total) bar.setTotal(seen);
      const secs = (Date.now() - started) / 1000;
      bar.update(seen, { speed: secs > 0 ? Math.round(seen / secs) : 0 });
    },
    stop() {
      bar.stop();
    },
  };
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description("simulate an OpenSIPS release's start-up preload on a live location table and report what it would reject")
    .requiredOption('--db <url>', 'postgres://USER[:PASS]@HOST[:PORT]/DB or mysql://USER[:PASS]@HOST[:PORT]/DB (mariadb:// too)')
    .option('--table <name>', 'location table (usrloc domain), optionally schema.table', 'location')
    .requiredOption('--release <release>', `OpenSIPS release line of the registrar: ${verifiableReleases().join(', ')}`)
    .requiredOption('--hash-size <n>', 'usrloc hash_size modparam of the registrar (0-16; 0 and 1 mean 512 slots)')
    .option('--use-domain', 'usrloc use_domain=1: the AOR is username@domain')
    .option('--unsigned-char', 'the registrar is built with unsigned char (arm64); default signed (x86-64)')
    .option('--timezone <tz>', "registrar host's IANA time zone, for 2.2/2.3 DATETIME expires", 'UTC')
    .option('--now <unix-seconds>', 'judge expiry at this time instead of the current time')
    .option('--details <n>', 'list up to N example rows per reason, with ids decoded', '0')
    .option('--batch-size <n>', 'rows per cursor fetch', '10000')
    .option('--json', 'one JSON document')
    .action(async (opts: VerifyCliOptions) => {
      // Validate everything before touching the database.
      verifyProfile(opts.release);
      const hashSize = parseHashSize(opts.hashSize);
      const details = intOption('--details', opts.details, 0, 100_000, 'an integer');
      const batchSize = intOption('--batch-size', opts.batchSize, 1, 1_000_000, 'an integer');
      const now = opts.now === undefined ? Math.floor(Date.now() / 1000) : intOption('--now', opts.now, 0, 2 ** 40, 'unix seconds');
      checkTimeZone(opts.timezone);

      const report = await runVerify(
        {
          db: opts.db,
          table: opts.table,
          release: opts.release,
          hashSize,
          useDomain: opts.useDomain === true,
          signedness: opts.unsignedChar ? 'unsigned' : 'signed',
          timezone: opts.timezone,
          now,
          details,
          batchSize,
        },
        progressBar(),
      );
      if (opts.json) printJson(report);
      else printLine(renderHuman(report));
      process.exitCode = report.clean ? EXIT.ok : EXIT.findings;
    });
}
