/**
 * `npm test`: starts ONE stack (PostgreSQL, MariaDB, Kafka, Kafka Connect + Debezium) for the whole
 * suite, exports its addresses, runs every test file with node's test runner, and stops the stack.
 *
 *   ULBRIDGE_TEST_PG_URL         superuser URL of PostgreSQL (database postgres)
 *   ULBRIDGE_TEST_MYSQL_URL      root URL of MariaDB
 *   ULBRIDGE_TEST_KAFKA_BROKERS  comma-separated bootstrap servers
 *   ULBRIDGE_TEST_CONNECT_URL    Kafka Connect REST URL
 *
 * If all four are already set, they are reused and nothing is started. Arguments, if any, replace
 * the default file list (e.g. `npm test -- test/integration/stack-cdc.test.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from '../src/stack/stack.js';
import type { Stack } from '../src/stack/types.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIRS = ['test/unit', 'test/integration', 'test/e2e'];
const ENV_VARS = ['ULBRIDGE_TEST_PG_URL', 'ULBRIDGE_TEST_MYSQL_URL', 'ULBRIDGE_TEST_KAFKA_BROKERS', 'ULBRIDGE_TEST_CONNECT_URL'];

function testFiles(): string[] {
  const args = process.argv.slice(2);
  if (args.length > 0) return args;
  return DIRS.flatMap((d) => {
    const abs = join(ROOT, d);
    if (!existsSync(abs)) return [];
    return readdirSync(abs)
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => relative(ROOT, join(abs, f)));
  });
}

function say(line: string): void {
  process.stderr.write(`test/run: ${line}\n`);
}

let stack: Stack | undefined;
let child: ChildProcess | undefined;
let stopping: Promise<void> | undefined;

function stopStack(): Promise<void> {
  stopping ??= (async () => {
    if (!stack) return;
    const t0 = Date.now();
    await stack
      .stop({ fast: process.env.ULBRIDGE_TEST_KEEP_STACK_DIR ? false : true, keepDir: !!process.env.ULBRIDGE_TEST_KEEP_STACK_DIR })
      .catch((e: unknown) => {
        say(`stopping the stack failed: ${(e as Error).message}`);
      });
    say(`stack stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  })();
  return stopping;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`${sig}: stopping tests and the stack`);
    child?.kill(sig);
    void stopStack().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

async function main(): Promise<number> {
  const files = testFiles();
  if (files.length === 0) {
    say('no test files found');
    return 1;
  }
  const env = { ...process.env };
  if (ENV_VARS.every((v) => env[v])) {
    say('reusing the services named by ULBRIDGE_TEST_* variables');
  } else {
    const t0 = Date.now();
    stack = await startStack({ log: (l) => say(l) });
    env.ULBRIDGE_TEST_PG_URL = stack.postgres!.url;
    env.ULBRIDGE_TEST_MYSQL_URL = stack.mariadb!.url;
    env.ULBRIDGE_TEST_KAFKA_BROKERS = stack.kafka!.brokers.join(',');
    env.ULBRIDGE_TEST_CONNECT_URL = stack.connect!.url;
    say(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (dir ${stack.dir})`);
  }
  // A test that hangs fails after 10 minutes instead of using up CI's whole budget.
  const argv = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files];
  say(`node ${argv.join(' ')}`);
  child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: 'inherit' });
  return new Promise<number>((resolve) => {
    child!.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1)));
  });
}

let code: number;
try {
  code = await main();
} catch (e) {
  const err = e as { code?: string; message?: string };
  say(`failed: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`);
  code = 2;
} finally {
  await stopStack();
}
process.exit(code);
