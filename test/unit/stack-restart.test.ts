/**
 * `ulbridge stack restart SERVICE [--kill] [--timeout S] [--json]`: argument handling, without a
 * stack (the real CLI in a child process, with a state directory of its own).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseService } from '../../src/cli/stack.js';
import { kafkaServerProperties } from '../../src/stack/kafka.js';
import { serviceName, servicePorts } from '../../src/stack/restart.js';
import { writeState } from '../../src/stack/state.js';
import type { StackState } from '../../src/stack/types.js';
import { cli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'ulbridge-stack-restart-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A state file naming a postgres-only stack whose process is long gone. */
function deadPostgresState(dir: string): StackState {
  return {
    version: 1,
    dir: join(dir, 'stack'),
    keepDir: false,
    startedAt: new Date().toISOString(),
    readyMs: 1,
    serviceReadyMs: { postgres: 1 },
    services: ['postgres'],
    postgres: { url: 'postgres://postgres@127.0.0.1:1/postgres', host: '127.0.0.1', port: 1, user: 'postgres' },
    // pid 2^22 + 1 is above Linux's pid_max default maximum: never alive.
    processes: [
      { service: 'postgres', pid: 4_194_305, command: ['/nonexistent/postgres'], logFile: join(dir, 'postgres.log'), stopSignal: 'SIGINT' },
    ],
  };
}

describe('stack restart: argument handling', () => {
  test('parseService accepts exactly the four service names', () => {
    for (const s of ['postgres', 'mariadb', 'kafka', 'connect']) assert.equal(parseService(s), s);
    assert.equal(serviceName(' kafka '), 'kafka');
    assert.throws(
      () => parseService('zookeeper'),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /unknown service "zookeeper"; expected one of postgres, mariadb, kafka, connect/.test((e as Error).message),
    );
    assert.throws(() => parseService('kafka,connect'), InvalidArgumentError);
    assert.throws(() => parseService(''), InvalidArgumentError);
  });

  test('servicePorts: the ports a restarted service must find free (kafka: broker and controller)', () => {
    const s = deadPostgresState(root);
    assert.deepEqual(servicePorts(s, 'postgres'), [1]);
    assert.deepEqual(servicePorts({ ...s, kafka: { brokers: ['127.0.0.1:9092'], controllerPort: 9093 } }, 'kafka'), [9092, 9093]);
    assert.deepEqual(servicePorts({ ...s, connect: { url: 'http://127.0.0.1:8083' } }, 'connect'), [8083]);
    assert.deepEqual(servicePorts(s, 'mariadb'), []);
  });

  test('kafkaExtraListeners: an extra PLAINTEXT listener advertising the proxy port; bad names refused', () => {
    const p = kafkaServerProperties('/d', 9092, 9093, [{ name: 'PROXIED', port: 9094, advertisedPort: 19094 }]);
    assert.equal(p.listeners, 'PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,PROXIED://127.0.0.1:9094');
    assert.equal(p['advertised.listeners'], 'PLAINTEXT://127.0.0.1:9092,PROXIED://127.0.0.1:19094');
    assert.equal(p['listener.security.protocol.map'], 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT');
    assert.equal(p['inter.broker.listener.name'], 'PLAINTEXT');
    assert.deepEqual(kafkaServerProperties('/d', 9092, 9093), kafkaServerProperties('/d', 9092, 9093, []));
    for (const name of ['proxied', 'PLAINTEXT', 'CONTROLLER', '1X', 'A-B']) {
      assert.throws(() => kafkaServerProperties('/d', 1, 2, [{ name, port: 3, advertisedPort: 4 }]), /extra listener name/);
    }
    const s = deadPostgresState(root);
    assert.deepEqual(
      servicePorts(
        {
          ...s,
          kafka: { brokers: ['127.0.0.1:9092'], controllerPort: 9093, extraListeners: { PROXIED: { port: 9094, advertisedPort: 19094 } } },
        },
        'kafka',
      ),
      [9092, 9093, 9094],
    );
  });

  test('a missing or unknown SERVICE, or a bad --timeout, is a usage error (exit 2)', { timeout: 60_000 }, async () => {
    const env = { ...process.env, ULBRIDGE_STACK_DIR: join(root, 'usage') };
    const none = await cli(['stack', 'restart'], env);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing required argument 'service'/);
    const unknown = await cli(['stack', 'restart', 'zookeeper', '--kill'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown service "zookeeper"/);
    const timeout = await cli(['stack', 'restart', 'kafka', '--timeout', '0'], env);
    assert.equal(timeout.code, 2);
    assert.match(timeout.stderr, /expected a positive number of seconds, got "0"/);
    const extra = await cli(['stack', 'restart', 'kafka', 'connect'], env);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /too many arguments/);
  });

  test('no stack running: STACK_NOT_RUNNING naming the state file (exit 2)', { timeout: 60_000 }, async () => {
    const stateDir = join(root, 'empty');
    const r = await cli(['stack', 'restart', 'kafka', '--kill'], { ...process.env, ULBRIDGE_STACK_DIR: stateDir });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(
        `ulbridge: STACK_NOT_RUNNING: no stack running \\(no ${join(stateDir, 'state.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`,
      ),
    );
    assert.equal(r.stdout, '');
  });

  test('a service the running stack does not have: STACK_NO_SUCH_SERVICE (exit 2)', { timeout: 60_000 }, async () => {
    const stateDir = join(root, 'pg-only');
    writeState(deadPostgresState(stateDir), join(stateDir, 'state.json'));
    const r = await cli(['stack', 'restart', 'kafka'], { ...process.env, ULBRIDGE_STACK_DIR: stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /STACK_NO_SUCH_SERVICE: the stack in .* has no kafka \(it runs postgres\)/);
  });
});
