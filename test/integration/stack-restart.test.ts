/**
 * `ulbridge stack restart SERVICE [--kill]` on a real stack of its own (PostgreSQL + Kafka): the
 * service comes back on the same port with the same data, the old processes are gone, `status`
 * sees it up and `down` stops the new pid.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { isAlive, serviceProcesses } from '../../src/stack/process.js';
import { readState, writeState } from '../../src/stack/state.js';
import { startStack } from '../../src/stack/stack.js';
import { cli } from '../support/cli.js';
import { processesMentioning } from '../support/procs.js';
import { withPg } from '../support/services.js';

const root = mkdtempSync(join(tmpdir(), 'ulbridge-stack-restart-'));
chmodSync(root, 0o755); // the postgres OS user (when we run as root) must reach the stack below

describe('stack restart', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test('restart --kill kafka and restart postgres: same ports, same data, new pids; down stops them', { timeout: 420_000 }, async () => {
    const dir = join(root, 'stack');
    const stateDir = join(root, 'state');
    const env = { ...process.env, ULBRIDGE_STACK_DIR: stateDir };
    const s = await startStack({ dir, services: ['postgres', 'kafka'], detached: true, log: () => undefined });
    writeState(s.state, join(stateDir, 'state.json'));
    try {
      const pgUrl = s.postgres!.url;
      await withPg(pgUrl, (c) => c.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)'));
      const kafka = new Kafka({ clientId: 'restart-test', brokers: s.kafka!.brokers, logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'restart-kept', messages: [{ key: 'k', value: 'before' }] });
      await producer.disconnect();

      const oldKafka = s.processes.find((p) => p.service === 'kafka')!.pid;
      const oldKafkaAll = serviceProcesses(oldKafka);
      const kill = await cli(['stack', 'restart', 'kafka', '--kill', '--json'], env);
      assert.equal(kill.code, 0, kill.stderr);
      const r = JSON.parse(kill.stdout) as {
        service: string;
        oldPid: number;
        pid: number;
        signal: string;
        address: string;
        readyMs: number;
      };
      assert.equal(r.service, 'kafka');
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(r.oldPid, oldKafka);
      assert.notEqual(r.pid, oldKafka);
      assert.equal(r.address, s.kafka!.brokers.join(','), 'same port');
      for (const pid of oldKafkaAll) assert.equal(isAlive(pid), false, `old kafka process ${pid} is gone`);
      assert.ok(isAlive(r.pid), 'new kafka runs after the CLI exited');
      assert.equal(
        readState(join(stateDir, 'state.json'))!.processes.find((p) => p.service === 'kafka')!.pid,
        r.pid,
        'state file has the new pid',
      );

      // Same data directory: the record written before the crash is still there.
      const consumer = kafka.consumer({ groupId: `restart-test-${process.pid}` });
      await consumer.connect();
      await consumer.subscribe({ topic: 'restart-kept', fromBeginning: true });
      const first = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no record read back from restart-kept within 60 s')), 60_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer);
            resolve(message.value!.toString());
          },
        });
      });
      await consumer.disconnect();
      assert.equal(first, 'before');

      const oldPg = readState(join(stateDir, 'state.json'))!.processes.find((p) => p.service === 'postgres')!.pid;
      const clean = await cli(['stack', 'restart', 'postgres'], env);
      assert.equal(clean.code, 0, clean.stderr);
      assert.match(
        clean.stdout,
        new RegExp(
          `^restarted postgres \\(SIGINT, pid ${oldPg} -> \\d+\\) on ${pgUrl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: stopped in [\\d.]+ s, ready in [\\d.]+ s\\n$`,
        ),
      );
      assert.equal(isAlive(oldPg), false);
      const kept = await withPg(pgUrl, (c) => c.query('SELECT v FROM kept'));
      assert.deepEqual(kept.rows, [{ v: 42 }], 'same data directory');

      const status = await cli(['stack', 'status', '--json'], env);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { running: boolean }).running, true);

      const down = await cli(['stack', 'down', '--json'], env);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(processesMentioning(dir), [], 'down stopped the restarted processes too');
      assert.equal(existsSync(dir), false);
    } finally {
      await s.stop({ fast: true }).catch(() => undefined);
      const st = readState(join(stateDir, 'state.json'));
      if (st) for (const p of st.processes) for (const pid of serviceProcesses(p.pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
