import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocationTable } from '../../src/demo/tables.js';
import { cli } from '../support/cli.js';
import { freshPostgresDb, kafkaBrokers, type FreshDb } from '../support/services.js';

// `ulbridge run` as an operator runs it: readiness, health, Prometheus metrics, JSON logs, and a
// SIGTERM that drains and exits 0.

const root = fileURLToPath(new URL('../../', import.meta.url));
let db: FreshDb;
let child: ChildProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'ulbridge-run-'));

before(async () => {
  db = await freshPostgresDb('run');
  await createLocationTable(db.url, '4.0');
});

after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

interface RunChild {
  child: ChildProcess;
  logs: () => string;
  /** SIGTERM; the process must drain and exit 0. Returns its JSON log lines. */
  drain: () => Promise<any[]>;
}

/** `ulbridge run --config FILE` from the sources; its stderr (the JSON log) collected. */
function spawnRun(file: string): RunChild {
  const c = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = c;
  let logs = '';
  c.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  const drain = async (): Promise<any[]> => {
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    assert.equal(await exited, 0);
    return logs
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  };
  return { child: c, logs: () => logs, drain };
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

test('run: /readyz turns ready, /healthz ok, /metrics served, SIGTERM drains and exits 0', async () => {
  const port = 20000 + (process.pid % 10000);
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: kafkaBrokers() },
      log: { topic: `run.${process.pid}.log`, partitions: 2, deadLetterTopic: `run.${process.pid}.dlq` },
      targets: [{ name: 'main', db: db.url, release: '4.0', hashSize: 9, groupId: `run-${process.pid}` }],
      http: { port },
    }),
  );
  const run = spawnRun(file);
  const base = `http://127.0.0.1:${port}`;
  let ready: { status: number; body: any } | null = null;
  for (let i = 0; i < 200 && ready?.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ready = await getJson(`${base}/readyz`).catch(() => null);
  }
  assert.deepEqual(ready, { status: 200, body: { ready: true, reasons: [] } });
  assert.deepEqual(await getJson(`${base}/healthz`), { status: 200, body: { status: 'ok' } });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /# TYPE ulbridge_apply_latency_seconds histogram/);
  assert.match(metrics, /# TYPE ulbridge_dead_letters_total counter/);
  assert.match(metrics, /ulbridge_process_resident_memory_bytes \d+/);

  const lines = await run.drain();
  const msgs = lines.map((l) => l.msg);
  for (const m of ['ulbridge running', 'signal received, draining', 'projection stopped', 'stopped'])
    assert.ok(msgs.includes(m), `log has "${m}": ${msgs.join(' | ')}`);
  assert.ok(lines.every((l) => l.app === 'ulbridge' && typeof l.time === 'string'));
});

test('run: an invalid config is one line naming the key, exit 2', async () => {
  const file = join(dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: ['127.0.0.1:9092'] },
      targets: [{ name: 'main', db: 'postgres://x/y', release: '4.0', hashSize: 20 }],
    }),
  );
  const r = await cli(['run', '--config', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'ulbridge: CONFIG_INVALID: config targets[0].hashSize: Too big: expected number to be <=16\n');
  const missing = await cli(['run', '--config', join(dir, 'nope.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^ulbridge: CONFIG_UNREADABLE: cannot read config file .*nope\.json: ENOENT/);
});

test('run restarted right after a kill -9: it says why it waits for its partitions, then runs', async () => {
  // The killed process stays in its consumer group until the broker has missed its heartbeats for
  // kafka.sessionTimeoutSeconds (20 s here: long enough that the restarted one waits past the 5 s
  // notice even on a loaded machine).
  const file = join(dir, 'kill.json');
  const groupId = `run-kill-${process.pid}`;
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: kafkaBrokers(), sessionTimeoutSeconds: 20 },
      log: { topic: `run.${process.pid}.log`, partitions: 2, deadLetterTopic: `run.${process.pid}.dlq` },
      targets: [{ name: 'main', db: db.url, release: '4.0', hashSize: 9, groupId }],
      http: { port: 0 },
    }),
  );
  const start = (): RunChild & { started: Promise<void> } => {
    const run = spawnRun(file);
    const started = new Promise<void>((resolve, reject) => {
      run.child.stderr!.on('data', () => {
        if (run.logs().includes('"msg":"ulbridge running"')) resolve();
      });
      run.child.once('exit', (code) => reject(new Error(`ulbridge run exited ${code} before it ran:\n${run.logs()}`)));
    });
    return { ...run, started };
  };
  const first = start();
  await first.started;
  const killed = new Promise<void>((r) => first.child.once('exit', () => r()));
  first.child.kill('SIGKILL');
  await killed;
  const second = start();
  await second.started;
  const msgs = (await second.drain()).map((l: { msg: string }) => l.msg);
  const notice = `still joining consumer group ${groupId} after 5 s: a ulbridge that stopped without leaving the group (kill -9, a crash) holds its partitions until the broker drops it, up to kafka.sessionTimeoutSeconds (20 s)`;
  assert.deepEqual(
    msgs.filter((m) => m === notice || m.startsWith('joined the consumer group')),
    [notice, 'joined the consumer group; positioned at the offsets stored in the target'],
    msgs.join('\n'),
  );
});
