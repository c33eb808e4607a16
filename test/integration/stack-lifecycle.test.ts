/**
 * Lifecycle of the native stack outside the shared one: stop() leaves no process and no directory
 * behind, and the CLI's `stack up` leaves a stack running after it exits until `stack down`.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, serviceProcesses } from '../../src/stack/process.js';
import { probePostgres } from '../../src/stack/probes.js';
import { startStack } from '../../src/stack/stack.js';
import { processesMentioning } from '../support/procs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'ulbridge-stack-life-'));
chmodSync(root, 0o755); // the postgres OS user (when we run as root) must reach the stacks below

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/stack.ts', ...args],
      { cwd: ROOT, env, timeout: 240_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('stack lifecycle', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test('stop() kills every process it started and removes the directory', { timeout: 240_000 }, async () => {
    const dir = join(root, 'full');
    const s = await startStack({ dir, log: () => undefined });
    const pids = s.processes.map((p) => p.pid);
    assert.deepEqual(s.processes.map((p) => p.service).sort(), ['connect', 'kafka', 'mariadb', 'postgres']);
    const members = s.processes.flatMap((p) => serviceProcesses(p.pid));
    assert.ok(members.length > pids.length, 'postgres has child processes (each in its own session)');
    for (const pid of pids) assert.ok(isAlive(pid), `pid ${pid} alive before stop`);
    await s.stop();
    for (const pid of members) assert.equal(isAlive(pid), false, `pid ${pid} gone after stop`);
    assert.deepEqual(processesMentioning(dir), []);
    assert.equal(existsSync(dir), false, 'stack directory removed');
  });

  test('`stack up` leaves the stack running after the CLI exits; `status` probes it; `down` stops it', { timeout: 240_000 }, async () => {
    const env = { ...process.env, ULBRIDGE_STACK_DIR: join(root, 'state') };
    const dir = join(root, 'cli');
    const up = await cli(['stack', 'up', '--json', '--services', 'postgres', '--dir', dir], env);
    assert.equal(up.code, 0, up.stderr);
    const details = JSON.parse(up.stdout) as {
      dir: string;
      postgres: { url: string; port: number };
      processes: Array<{ service: string; pid: number }>;
    };
    assert.equal(details.dir, dir);
    assert.match(details.postgres.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const pid = details.processes[0]!.pid;
    assert.ok(isAlive(pid), 'postgres outlives `stack up`');
    assert.ok(await probePostgres(details.postgres.url), 'and answers');

    const again = await cli(['stack', 'up', '--services', 'postgres'], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /STACK_ALREADY_RUNNING/);

    const status = await cli(['stack', 'status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const st = JSON.parse(status.stdout) as { running: boolean; services: Array<{ service: string; up: boolean; rssBytes: number }> };
    assert.equal(st.running, true);
    assert.equal(st.services[0]!.up, true);
    assert.ok(st.services[0]!.rssBytes > 0);

    const down = await cli(['stack', 'down', '--json'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((JSON.parse(down.stdout) as { stopped: boolean }).stopped, true);
    assert.equal(isAlive(pid), false, 'postgres stopped by `stack down`');
    assert.deepEqual(processesMentioning(dir), []);
    assert.equal(existsSync(dir), false);

    const after = await cli(['stack', 'status', '--json'], env);
    assert.equal(after.code, 1);
    assert.equal((JSON.parse(after.stdout) as { running: boolean }).running, false);
  });
});
