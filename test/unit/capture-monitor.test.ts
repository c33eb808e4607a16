/**
 * The capture stage's metrics (src/service/captureMonitor.ts): what each check publishes, with
 * Kafka Connect's answers replaced by a fake (the real check is covered by
 * test/integration/monitoring.test.ts, which scrapes a running `ulbridge run`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { CaptureStatus } from '../../src/connect/connect.js';
import { parseConfig } from '../../src/ops/config.js';
import { Metrics } from '../../src/ops/metrics.js';
import { createCaptureMonitor } from '../../src/service/captureMonitor.js';

const raw = {
  kafka: { brokers: ['kafka:9092'] },
  connect: { url: 'http://connect:8083' },
  targets: [{ name: 'main', db: 'postgres://ulbridge@target:5432/opensips', release: '4.0' }],
  sources: [{ name: 'legacy', release: '2.1', capture: { db: 'postgres://debezium@legacy:5432/opensips', maxLagBytes: 100 } }],
};

const status = (over: Partial<CaptureStatus>): CaptureStatus => ({
  stage: 'source',
  pipeline: 'legacy',
  connector: 'ulbridge-legacy',
  kind: 'postgres',
  topic: 'ulbridge-legacy.public.location',
  state: 'RUNNING',
  tasks: [{ id: 0, state: 'RUNNING', workerId: 'w' }],
  running: true,
  maxLagBytes: 100,
  trace: null,
  databasePosition: '0/200',
  connectorPosition: '0/200',
  lagBytes: '0',
  caughtUp: true,
  unconfirmedBytes: '0',
  slotActive: true,
  problem: null,
  ...over,
});

const LABELS = '{stage="source",pipeline="legacy",connector="ulbridge-legacy"}';

async function series(m: Metrics): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith('ulbridge_capture_'));
}

test('each check publishes running, lag bytes, seconds behind and the check time', async () => {
  const metrics = new Metrics();
  let clock = 1_000_000;
  const answers: Array<CaptureStatus[] | Error> = [
    [status({})],
    [status({ lagBytes: '100', caughtUp: false, connectorPosition: '0/19C' })],
    [status({ lagBytes: '5000', caughtUp: false, connectorPosition: '0/0' })],
    new Error('Kafka Connect at http://connect:8083 did not answer'),
    [status({ running: false, state: 'FAILED', lagBytes: null, caughtUp: false })],
    [status({})],
  ];
  const monitor = createCaptureMonitor({
    cfg: parseConfig(raw, {}),
    metrics,
    logger: pino({ level: 'silent' }),
    intervalMs: 3_600_000,
    now: () => clock,
    check: () => {
      const a = answers.shift()!;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  })!;
  await monitor.start();
  assert.equal(monitor.state, 'running');
  assert.deepEqual(await series(metrics), [
    `ulbridge_capture_running${LABELS} 1`,
    `ulbridge_capture_lag_bytes${LABELS} 0`,
    `ulbridge_capture_behind_seconds${LABELS} 0`,
    'ulbridge_capture_last_check_timestamp_seconds 1000',
  ]);

  // The periodic check, driven by hand: (at most maxLagBytes behind is within READY's limit).
  const step = async (ms: number): Promise<string[]> => {
    clock += ms;
    await monitor.checkNow();
    return series(metrics);
  };
  assert.deepEqual(await step(15_000), [
    `ulbridge_capture_running${LABELS} 1`,
    `ulbridge_capture_lag_bytes${LABELS} 100`,
    `ulbridge_capture_behind_seconds${LABELS} 0`,
    'ulbridge_capture_last_check_timestamp_seconds 1015',
  ]);
  assert.deepEqual(await step(15_000), [
    `ulbridge_capture_running${LABELS} 1`,
    `ulbridge_capture_lag_bytes${LABELS} 5000`,
    `ulbridge_capture_behind_seconds${LABELS} 15`,
    'ulbridge_capture_last_check_timestamp_seconds 1030',
  ]);
  // Connect not answering: every connector counts as not running; the lag is unknown.
  assert.deepEqual(await step(15_000), [
    `ulbridge_capture_running${LABELS} 0`,
    `ulbridge_capture_behind_seconds${LABELS} 30`,
    'ulbridge_capture_last_check_timestamp_seconds 1045',
  ]);
  assert.deepEqual(await step(15_000), [
    `ulbridge_capture_running${LABELS} 0`,
    `ulbridge_capture_behind_seconds${LABELS} 45`,
    'ulbridge_capture_last_check_timestamp_seconds 1060',
  ]);
  assert.deepEqual(await step(15_000), [
    `ulbridge_capture_running${LABELS} 1`,
    `ulbridge_capture_lag_bytes${LABELS} 0`,
    `ulbridge_capture_behind_seconds${LABELS} 0`,
    'ulbridge_capture_last_check_timestamp_seconds 1075',
  ]);
  await monitor.stop();
  assert.equal(monitor.state, 'stopped');
});

test('never caught up since the process started: seconds behind count from the first check', async () => {
  const metrics = new Metrics();
  let clock = 50_000;
  const monitor = createCaptureMonitor({
    cfg: parseConfig(raw, {}),
    metrics,
    logger: pino({ level: 'silent' }),
    intervalMs: 3_600_000,
    now: () => clock,
    check: () => Promise.resolve([status({ lagBytes: '999', caughtUp: false })]),
  })!;
  await monitor.start();
  clock += 20_000;
  await monitor.checkNow();
  assert.ok((await series(metrics)).includes(`ulbridge_capture_behind_seconds${LABELS} 20`));
  await monitor.stop();
});

test('no monitor without captures or without connect.url', () => {
  const opts = { metrics: new Metrics(), logger: pino({ level: 'silent' }) };
  assert.equal(createCaptureMonitor({ ...opts, cfg: parseConfig({ ...raw, connect: undefined }, {}) }), null);
  assert.equal(
    createCaptureMonitor({
      ...opts,
      cfg: parseConfig({ ...raw, sources: [{ name: 'legacy', release: '2.1', topic: 'cdc.public.location' }] }, {}),
    }),
    null,
  );
});
