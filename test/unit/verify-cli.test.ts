import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from '../support/cli.js';

/**
 * `ulbridge verify` argument and connection errors, as an operator sees them: the real CLI in a
 * child process, exact stderr, exit code 2, no stack trace unless --debug. No database needed:
 * the unreachable cases point at port 1 on loopback, where nothing listens.
 */

const DB = 'postgres://postgres@127.0.0.1:1/ul';
const ok = ['--db', DB, '--release', '4.0', '--hash-size', '9'];

const cases: Array<{ name: string; args: string[]; stderr: string }> = [
  {
    name: 'unknown release lists the valid ones',
    args: ['verify', '--db', DB, '--release', '2.5', '--hash-size', '9'],
    stderr: 'ulbridge: UNKNOWN_RELEASE: unknown release "2.5": --release takes one of 2.2, 2.3, 2.4, 3.x, 4.0\n',
  },
  {
    name: '2.1 is refused: it has no contact_id',
    args: ['verify', '--db', DB, '--release', '2.1', '--hash-size', '9'],
    stderr:
      'ulbridge: UNSUPPORTED_RELEASE: release 2.1 has no contact_id (its key is an auto-increment id), so there is no preload check to simulate: ' +
      '--release takes one of 2.2, 2.3, 2.4, 3.x, 4.0; to move a 2.1 table, migrate it (DESIGN.md §4)\n',
  },
  {
    name: '--hash-size out of range',
    args: ['verify', '--db', DB, '--release', '4.0', '--hash-size', '17'],
    stderr:
      'ulbridge: BAD_HASH_SIZE: --hash-size must be an integer from 0 to 16 (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "17"\n',
  },
  {
    name: '--hash-size not a number',
    args: ['verify', '--db', DB, '--release', '4.0', '--hash-size', 'nine'],
    stderr:
      'ulbridge: BAD_HASH_SIZE: --hash-size must be an integer from 0 to 16 (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "nine"\n',
  },
  {
    name: 'missing --db',
    args: ['verify', '--release', '4.0', '--hash-size', '9'],
    stderr: "ulbridge: USAGE: required option '--db <url>' not specified (see ulbridge --help, or ulbridge COMMAND --help)\n",
  },
  {
    name: 'not a URL',
    args: ['verify', '--db', 'location', '--release', '4.0', '--hash-size', '9'],
    stderr:
      'ulbridge: BAD_DB_URL: --db "location" is not a database URL: give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n',
  },
  {
    name: 'unsupported scheme, password not echoed',
    args: ['verify', '--db', 'oracle://scott:tiger@db/ul', '--release', '4.0', '--hash-size', '9'],
    stderr:
      'ulbridge: BAD_DB_URL: --db scheme "oracle:" is not supported: give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n',
  },
  {
    name: 'URL without a database',
    args: ['verify', '--db', 'postgres://scott:tiger@db', '--release', '4.0', '--hash-size', '9'],
    stderr:
      'ulbridge: BAD_DB_URL: --db "postgres://scott:***@db" names no database: give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n',
  },
  {
    name: 'bad table name',
    args: ['verify', ...ok, '--table', 'loc-ation'],
    stderr:
      'ulbridge: BAD_TABLE_NAME: --table "loc-ation" is not a plain table name: use letters, digits and _ (at most 63 each), optionally schema.table\n',
  },
  {
    name: 'bad time zone',
    args: ['verify', ...ok, '--timezone', 'Mars/Base'],
    stderr: `ulbridge: BAD_TIMEZONE: --timezone "Mars/Base" is not an IANA time zone: give the registrar host's zone, e.g. UTC or Europe/Berlin\n`,
  },
  {
    name: 'bad --details',
    args: ['verify', ...ok, '--details', 'all'],
    stderr: 'ulbridge: BAD_DETAILS: --details must be an integer from 0 to 100000, got "all"\n',
  },
  {
    name: 'bad --now',
    args: ['verify', ...ok, '--now', 'yesterday'],
    stderr: 'ulbridge: BAD_NOW: --now must be unix seconds from 0 to 1099511627776, got "yesterday"\n',
  },
  {
    name: 'unreachable PostgreSQL',
    args: ['verify', ...ok],
    stderr:
      'ulbridge: DB_UNREACHABLE: cannot connect to PostgreSQL at 127.0.0.1:1 (ECONNREFUSED): check that the server is running and that --db names the right host and port\n',
  },
  {
    name: 'unreachable MySQL/MariaDB',
    args: ['verify', '--db', 'mariadb://root:secret@127.0.0.1:1/ul', '--release', '2.3', '--hash-size', '10'],
    stderr:
      'ulbridge: DB_UNREACHABLE: cannot connect to MySQL/MariaDB at 127.0.0.1:1 (ECONNREFUSED): check that the server is running and that --db names the right host and port\n',
  },
];

describe('verify: bad input exits 2 with one line that says what to fix', { concurrency: 4 }, () => {
  for (const c of cases) {
    test(c.name, async () => {
      const r = await cli(c.args);
      assert.equal(r.stderr, c.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 2);
    });
  }
});

test('verify: --debug adds the stack trace after the one-line error', async () => {
  const r = await cli(['--debug', 'verify', ...ok, '--hash-size', '17']);
  assert.equal(r.code, 2);
  const [first, ...rest] = r.stderr.split('\n');
  assert.equal(
    first,
    'ulbridge: BAD_HASH_SIZE: --hash-size must be an integer from 0 to 16 (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "17"',
  );
  assert.match(rest.join('\n'), /^UlbridgeError: --hash-size must be/);
  assert.match(rest.join('\n'), /\n {4}at /);
});

test('verify: --help lists every option', async () => {
  const r = await cli(['verify', '--help']);
  assert.equal(r.code, 0);
  for (const opt of [
    '--db <url>',
    '--table <name>',
    '--release <release>',
    '--hash-size <n>',
    '--use-domain',
    '--unsigned-char',
    '--timezone <tz>',
    '--now <unix-seconds>',
    '--details <n>',
    '--batch-size <n>',
    '--json',
  ]) {
    assert.ok(r.stdout.includes(opt), opt);
  }
});
