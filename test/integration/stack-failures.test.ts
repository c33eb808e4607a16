/**
 * Start-up failures of the native stack: each must fail fast with a coded error that names the
 * service, and where a process ran, its command line and log file, and leave no process behind.
 * These start their own (partial) stacks; they need the Debian binaries and Java, not the shared stack.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StackError } from '../../src/stack/errors.js';
import { startStack, type StartStackOptions } from '../../src/stack/stack.js';
import { processesMentioning } from '../support/procs.js';

const root = mkdtempSync(join(tmpdir(), 'ulbridge-stack-fail-'));
chmodSync(root, 0o755); // the postgres OS user (when we run as root) must reach the stacks below
let n = 0;
const quiet = (): void => undefined;

async function expectFailure(opts: StartStackOptions, code: string): Promise<{ err: StackError; dir: string }> {
  const dir = join(root, `s${++n}`);
  const err = await startStack({ dir, log: quiet, timeoutMs: 60_000, ...opts }).then(
    async (s) => {
      await s.stop({ fast: true });
      assert.fail(`startStack should have failed with ${code}`);
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof StackError, `a StackError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.deepEqual(processesMentioning(dir), [], 'no process of the failed stack is left');
  return { err, dir };
}

describe('stack start-up failures', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a fixed port that is in use: STACK_PORT_IN_USE naming the port and service', async () => {
    const srv: Server = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const { err } = await expectFailure({ services: ['postgres'], ports: { postgres: port } }, 'STACK_PORT_IN_USE');
      assert.match(err.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 wanted for postgres is already in use`));
      assert.equal(err.service, 'postgres');
    } finally {
      srv.close();
    }
  });

  test('java missing: STACK_JAVA_MISSING with the path tried and how to install one', async () => {
    const { err } = await expectFailure({ services: ['kafka'], java: '/nonexistent/jdk/bin/java' }, 'STACK_JAVA_MISSING');
    assert.match(err.message, /\/nonexistent\/jdk\/bin\/java/);
    assert.match(err.message, /openjdk-17-jre-headless/);
  });

  test('PostgreSQL binaries missing: STACK_BINARY_MISSING naming the apt package', async () => {
    const { err } = await expectFailure({ services: ['postgres'], pgBinDir: '/nonexistent/pg/bin' }, 'STACK_BINARY_MISSING');
    assert.match(err.message, /apt-get install -y postgresql/);
  });

  test('mvn failing on first use: STACK_MAVEN_FAILED with the command', async () => {
    const cache = join(root, 'empty-jar-cache');
    const { err } = await expectFailure({ services: ['kafka'], jarsCacheDir: cache, mvn: '/nonexistent/bin/mvn' }, 'STACK_MAVEN_FAILED');
    assert.match(err.message, /\/nonexistent\/bin\/mvn -B -q -f .*pom\.xml dependency:copy-dependencies/);
  });

  test('postgres exiting during start-up: STACK_SERVICE_EXITED with command, log file and its last lines', async () => {
    const { err, dir } = await expectFailure(
      { services: ['postgres'], extraArgs: { postgres: ['-c', 'ulbridge_no_such_setting=1'] } },
      'STACK_SERVICE_EXITED',
    );
    const log = join(dir, 'logs', 'postgres.log');
    assert.equal(err.service, 'postgres');
    assert.equal(err.logFile, log);
    assert.ok(existsSync(log), 'the log is kept after a failed start');
    assert.match(err.message, /^postgres exited during start-up \(exit code 1\)/);
    assert.match(err.message, /command: \S*postgres -D /);
    assert.ok(err.message.includes(`log: ${log}`));
    assert.match(err.message, /unrecognized configuration parameter "ulbridge_no_such_setting"/);
    assert.match(readFileSync(log, 'utf8'), /ulbridge_no_such_setting/);
  });

  test('mariadb exiting during start-up: STACK_SERVICE_EXITED naming mariadb and its log', async () => {
    const { err, dir } = await expectFailure(
      { services: ['mariadb'], extraArgs: { mariadb: ['--ulbridge-no-such-option'] } },
      'STACK_SERVICE_EXITED',
    );
    assert.equal(err.service, 'mariadb');
    assert.equal(err.logFile, join(dir, 'logs', 'mariadb.log'));
    assert.match(err.message, /^mariadb exited during start-up/);
    assert.match(err.message, /ulbridge-no-such-option/);
  });

  test('the Kafka JVM exiting during start-up: STACK_SERVICE_EXITED naming kafka and its log', async () => {
    const { err, dir } = await expectFailure({ services: ['kafka'], extraArgs: { kafka: ['-Xmx1k'] } }, 'STACK_SERVICE_EXITED');
    assert.equal(err.service, 'kafka');
    assert.equal(err.logFile, join(dir, 'logs', 'kafka.log'));
    assert.match(err.message, /^kafka exited during start-up \(exit code 1\)/);
    assert.match(err.message, /command: \S*java .*kafka\.Kafka /);
    assert.match(err.message, /heap/i);
  });

  test(
    'as root, a stack dir the postgres user cannot enter: STACK_START_FAILED saying which directory',
    { skip: process.getuid?.() !== 0 && 'only as root' },
    async () => {
      const closed = join(root, 'closed');
      mkdirSync(closed, { mode: 0o700 });
      const dir = join(closed, 'stack');
      const err = await startStack({ dir, services: ['postgres'], log: quiet, keepDirOnFailure: false }).then(
        () => assert.fail('should fail'),
        (e: unknown) => e as StackError,
      );
      assert.equal(err.code, 'STACK_START_FAILED');
      assert.ok(err.message.includes(`cannot enter ${closed};`), err.message);
      assert.deepEqual(processesMentioning(dir), []);
    },
  );

  test('a failed service stops the ones that did start', async () => {
    const { err, dir } = await expectFailure(
      { services: ['postgres', 'mariadb'], extraArgs: { mariadb: ['--ulbridge-no-such-option'] } },
      'STACK_SERVICE_EXITED',
    );
    assert.equal(err.service, 'mariadb');
    assert.deepEqual(processesMentioning(join(dir, 'postgres')), []);
  });
});
