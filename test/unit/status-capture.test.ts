import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  captureReasons,
  decideReadiness,
  renderStatusHuman,
  type CaptureStatus,
  type StatusReport,
} from '../../src/service/statusVerdict.js';

function cap(over: Partial<CaptureStatus> = {}): CaptureStatus {
  return {
    stage: 'source',
    pipeline: 'legacy',
    connector: 'ulbridge-legacy',
    kind: 'postgres',
    topic: 'ulbridge-legacy.public.location',
    state: 'RUNNING',
    tasks: [{ id: 0, state: 'RUNNING', workerId: '127.0.0.1:8083' }],
    running: true,
    maxLagBytes: 0,
    trace: null,
    databasePosition: '0/15611A70',
    connectorPosition: '0/15611A70',
    lagBytes: '0',
    caughtUp: true,
    unconfirmedBytes: '4564864',
    slotActive: true,
    problem: null,
    ...over,
  };
}
const noLetters = { topic: 'ulbridge.dead-letters', total: 0, since: null, counted: 0 };

test('a running connector at the database position is ready, whatever WAL the slot still retains', () => {
  assert.deepEqual(captureReasons([cap()]), []);
  assert.deepEqual(decideReadiness([], [], noLetters, [], [cap()]), []);
});

test('a connector that is missing, failed, paused, without tasks or without a streaming slot is CAPTURE_NOT_RUNNING', () => {
  const r = captureReasons([
    cap({ state: 'MISSING', tasks: [], running: false, lagBytes: null }),
    cap({
      stage: 'reverse',
      pipeline: 'rollback',
      connector: 'rb',
      state: 'RUNNING',
      tasks: [{ id: 0, state: 'FAILED', workerId: null }],
      running: false,
      trace: 'org.apache.kafka.connect.errors.ConnectException: boom',
    }),
    cap({ state: 'PAUSED', tasks: [{ id: 0, state: 'PAUSED', workerId: null }], running: false }),
    cap({ running: false, slotActive: false, problem: 'replication slot ulbridge_x is not in use: the connector is not streaming' }),
  ]);
  assert.deepEqual(
    r.map((x) => x.code),
    ['CAPTURE_NOT_RUNNING', 'CAPTURE_NOT_RUNNING', 'CAPTURE_NOT_RUNNING', 'CAPTURE_NOT_RUNNING'],
  );
  assert.equal(r[0]!.message, 'source legacy: connector ulbridge-legacy does not exist in Kafka Connect (run ulbridge connect apply)');
  assert.equal(
    r[1]!.message,
    "reverse rollback: connector rb is RUNNING (tasks 0:FAILED): org.apache.kafka.connect.errors.ConnectException: boom; see the Connect worker's log, then restart it (POST /connectors/rb/restart?includeTasks=true)",
  );
  assert.match(r[2]!.message, /is PAUSED \(tasks 0:PAUSED\)/);
  assert.equal(
    r[3]!.message,
    'source legacy: connector ulbridge-legacy is RUNNING but replication slot ulbridge_x is not in use: the connector is not streaming',
  );
});

test('lag above capture.maxLagBytes, or unknown, is CAPTURE_LAG; 64-bit byte counts stay exact', () => {
  const behind = captureReasons([
    cap({ lagBytes: '18446744073709551615', caughtUp: false, connectorPosition: '0/1', databasePosition: 'FFFFFFFF/FFFFFFFF' }),
  ]);
  assert.deepEqual(
    behind.map((x) => x.code),
    ['CAPTURE_LAG'],
  );
  assert.equal(
    behind[0]!.message,
    'source legacy: connector ulbridge-legacy is 18446744073709551615 bytes of WAL behind the database (0/1 vs FFFFFFFF/FFFFFFFF): changes are not yet in ulbridge-legacy.public.location',
  );
  assert.deepEqual(
    captureReasons([cap({ kind: 'mariadb', lagBytes: '213', caughtUp: false, maxLagBytes: 213 })]),
    [],
    'within maxLagBytes',
  );
  const over = captureReasons([cap({ kind: 'mariadb', lagBytes: '214', caughtUp: false, maxLagBytes: 213 })]);
  assert.match(over[0]!.message, /is 214 bytes of binlog behind the database .*; at most 213 allowed\)/);
  const unknown = captureReasons([cap({ lagBytes: null, caughtUp: false, problem: 'cannot measure: connect ECONNREFUSED' })]);
  assert.deepEqual(unknown, [
    { code: 'CAPTURE_LAG', message: 'source legacy: connector ulbridge-legacy: lag unknown: cannot measure: connect ECONNREFUSED' },
  ]);
});

test('capture reasons come first (pipeline order) and the capture table renders; the JSON adds one field', () => {
  const ingest = {
    source: 'legacy',
    topic: 't',
    groupId: 'g',
    lag: 1,
    partitions: [{ partition: 0, low: '0', high: '5', committed: '4', lag: 1 }],
  };
  const reasons = decideReadiness(
    [ingest],
    [],
    noLetters,
    [],
    [cap({ lagBytes: '104', caughtUp: false, connectorPosition: '0/15611190', databasePosition: '0/156111F8' })],
  );
  assert.deepEqual(
    reasons.map((r) => r.code),
    ['CAPTURE_LAG', 'INGEST_LAG'],
  );
  const report: StatusReport = {
    ready: false,
    reasons,
    notes: [],
    checkedAt: '2026-12-05T21:00:00.000Z',
    ingest: [ingest],
    project: [],
    reverse: [],
    deadLetters: noLetters,
    capture: [cap({ lagBytes: '104', connectorPosition: '0/15611190', databasePosition: '0/156111F8' })],
  };
  const doc = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(doc), ['ready', 'reasons', 'notes', 'checkedAt', 'ingest', 'project', 'reverse', 'deadLetters', 'capture']);
  assert.deepEqual(Object.keys(doc.capture[0]), [
    'stage',
    'pipeline',
    'connector',
    'kind',
    'topic',
    'state',
    'tasks',
    'running',
    'maxLagBytes',
    'trace',
    'databasePosition',
    'connectorPosition',
    'lagBytes',
    'caughtUp',
    'unconfirmedBytes',
    'slotActive',
    'problem',
  ]);
  assert.equal(typeof doc.capture[0].lagBytes, 'string');
  const text = renderStatusHuman(report);
  assert.ok(
    text.includes(
      '\ncapture (database -> CDC topic: Debezium connectors in Kafka Connect; lag in bytes behind the database at the check)\n  CAPTURE        CONNECTOR        STATE    TASKS      DB POSITION  CONNECTOR POSITION  LAG BYTES\n  source legacy  ulbridge-legacy  RUNNING  0:RUNNING  0/156111F8   0/15611190          104\n',
    ),
    text,
  );
});
