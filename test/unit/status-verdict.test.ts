import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideReadiness,
  partitionLag,
  renderStatusHuman,
  type DeadLetterStatus,
  type IngestStatus,
  type ProjectStatus,
  type PushNode,
  type ReverseStatus,
  type StatusReport,
} from '../../src/service/statusVerdict.js';
import { parseSince } from '../../src/cli/status.js';

const ingest = (lags: number[]): IngestStatus => ({
  source: 'legacy',
  topic: 'cdc.public.location',
  groupId: 'ulbridge-ingest-legacy',
  lag: lags.reduce((a, b) => a + b, 0),
  partitions: lags.map((lag, partition) => ({ partition, low: '0', high: String(100 + lag), committed: '100', lag })),
});

const cleanVerify = {
  clean: true,
  findings: 0,
  rowsRead: 10,
  rejected: 0,
  ambiguousRecordLabels: 0,
  duplicateContactIds: 0,
  tableVersionOk: true,
  expired: 0,
};

const project = (lags: number[], extra: Partial<ProjectStatus> = {}): ProjectStatus => ({
  target: 'main',
  db: 'postgres://u:***@h/db',
  table: 'location',
  release: '4.0',
  hashSize: 9,
  topic: 'ulbridge.registrations',
  stateSchema: 'ulbridge_main',
  started: true,
  lag: lags.reduce((a, b) => a + b, 0),
  partitions: lags.map((lag, partition) => ({ partition, low: '0', high: String(50 + lag), next: '50', lag })),
  lastAppliedAt: '2026-11-29T15:00:00.000Z',
  lastAppliedAgeSeconds: 12,
  verify: cleanVerify,
  ...extra,
});

const noLetters: DeadLetterStatus = { topic: 'ulbridge.dead-letters', total: 0, since: null, counted: 0 };

test('partitionLag: high - max(next, low); never negative; a group that never committed owes everything retained', () => {
  assert.equal(partitionLag('0', '10', '10'), 0);
  assert.equal(partitionLag('0', '10', '7'), 3);
  assert.equal(partitionLag('4', '10', null), 6);
  assert.equal(partitionLag('4', '10', '2'), 6, 'a position below the low watermark counts from low');
  assert.equal(partitionLag('0', '10', '12'), 0);
  assert.equal(partitionLag('0', '0', null), 0, 'an empty partition has no lag');
  assert.equal(partitionLag('9007199254740993', '9007199254740995', '9007199254740994'), 1, '64-bit offsets are exact');
});

function reverse(lags: number[]): ReverseStatus {
  const partitions = lags.map((lag, partition) => ({ partition, low: '0', high: '10', committed: String(10 - lag), lag }));
  return {
    reverse: 'rollback',
    target: 'main',
    topic: 'new.public.location',
    groupId: 'ulbridge-reverse-rollback',
    lag: lags.reduce((a, b) => a + b, 0),
    partitions,
  };
}

test('ready only when every stage has lag 0, no dead letters count and every target verifies clean', () => {
  assert.deepEqual(decideReadiness([ingest([0, 0])], [project([0, 0, 0, 0])], noLetters), []);
  assert.deepEqual(decideReadiness([], [], noLetters), []);

  const r = decideReadiness([ingest([0, 3])], [project([2, 0, 1, 0])], { ...noLetters, total: 2, counted: 2 });
  assert.deepEqual(
    r.map((x) => x.code),
    ['INGEST_LAG', 'PROJECT_LAG', 'DEAD_LETTERS'],
  );
  assert.equal(
    r[0]!.message,
    'source legacy: 3 change events of cdc.public.location not yet ingested by group ulbridge-ingest-legacy (partition 1: 3)',
  );
  assert.equal(r[1]!.message, 'target main: 3 log events of ulbridge.registrations not yet applied (partition 0: 2, partition 2: 1)');
  assert.match(r[2]!.message, /^2 dead letters in ulbridge\.dead-letters: review them/);

  // Letters before --dead-letters-since do not count.
  assert.deepEqual(decideReadiness([], [project([0])], { ...noLetters, total: 4, since: '2026-11-29T15:00:00.000Z', counted: 0 }), []);
  const since = decideReadiness([], [project([0])], { ...noLetters, total: 4, since: '2026-11-29T15:00:00.000Z', counted: 1 });
  assert.match(since[0]!.message, /^1 dead letter in ulbridge\.dead-letters since 2026-11-29T15:00:00\.000Z/);
});

test('a projection that never ran and a target that does not verify clean are reasons of their own', () => {
  const r = decideReadiness(
    [],
    [project([5], { started: false, partitions: [], lastAppliedAt: null, lastAppliedAgeSeconds: null })],
    noLetters,
  );
  assert.deepEqual(
    r.map((x) => x.code),
    ['PROJECT_NOT_STARTED'],
    'not also PROJECT_LAG',
  );
  const dirty = { ...cleanVerify, clean: false, findings: 5, rejected: 3, ambiguousRecordLabels: 2 };
  const v = decideReadiness([], [project([0], { verify: dirty })], noLetters);
  assert.deepEqual(
    v.map((x) => x.code),
    ['VERIFY_FINDINGS'],
  );
  assert.equal(
    v[0]!.message,
    'target main: verify of location as OpenSIPS 4.0 with hash_size 9 is not clean: 3 rows rejected by preload, 2 ambiguous record labels (run ulbridge verify --details 10 for the rows)',
  );
  const version = decideReadiness(
    [],
    [project([0], { verify: { ...cleanVerify, clean: false, findings: 1, tableVersionOk: false } })],
    noLetters,
  );
  assert.match(version[0]!.message, /is not clean: wrong table version/);
});

test('the JSON document and the human summary', () => {
  const report: StatusReport = {
    ready: false,
    reasons: decideReadiness([ingest([0])], [project([0, 1])], noLetters),
    notes: [],
    checkedAt: '2026-11-29T15:00:12.000Z',
    ingest: [ingest([0])],
    project: [project([0, 1])],
    reverse: [reverse([2])],
    deadLetters: noLetters,
  };
  const doc = JSON.parse(JSON.stringify(report));
  assert.deepEqual(Object.keys(doc), ['ready', 'reasons', 'notes', 'checkedAt', 'ingest', 'project', 'reverse', 'deadLetters']);
  assert.deepEqual(Object.keys(doc.project[0]), [
    'target',
    'db',
    'table',
    'release',
    'hashSize',
    'topic',
    'stateSchema',
    'started',
    'lag',
    'partitions',
    'lastAppliedAt',
    'lastAppliedAgeSeconds',
    'verify',
  ]);
  assert.equal(typeof doc.ingest[0].partitions[0].high, 'string');
  assert.equal(typeof doc.ingest[0].partitions[0].lag, 'number');
  const text = renderStatusHuman(report);
  assert.match(
    text,
    /^ulbridge status: NOT READY for cut-over \(checked 2026-11-29T15:00:12\.000Z\)\n {2}- PROJECT_LAG: target main: 1 log event of/,
  );
  assert.match(text, /\n {2}main {4}1 {10}51 {4}50 {4}1 {4}12s ago\n/);
  assert.ok(
    text.includes(
      '\nreverse (target table CDC topic -> legacy table)\n  REVERSE   TOPIC                PARTITION  HIGH  COMMITTED  LAG\n  rollback  new.public.location  0          10    8          2\n',
    ),
    text,
  );
  assert.match(text, /dead letters: 0 in ulbridge\.dead-letters$/);
});

test('reverse sync lag is a reason of its own', () => {
  assert.deepEqual(decideReadiness([], [], noLetters, [reverse([0])]), []);
  const r = decideReadiness([], [], noLetters, [reverse([2])]);
  assert.deepEqual(r, [
    {
      code: 'REVERSE_LAG',
      message:
        "reverse rollback: 2 change events of target main's new.public.location not yet copied to the legacy table by group ulbridge-reverse-rollback (partition 0: 2)",
    },
  ]);
});

test('--dead-letters-since takes ISO 8601 or unix seconds', () => {
  assert.equal(parseSince('1900000000'), 1_900_000_000_000);
  assert.equal(parseSince('2026-11-29T15:00:00Z'), Date.UTC(2026, 10, 29, 15));
  assert.throws(() => parseSince('yesterday'), { code: 'BAD_DEAD_LETTERS_SINCE' });
});

test('a target whose stored offset lies below the log start is not ready: the events in between are gone', () => {
  const gone = project([0, 0], {
    partitions: [
      { partition: 0, low: '0', high: '50', next: '50', lag: 0 },
      { partition: 1, low: '40', high: '50', next: '30', lag: 10 },
    ],
    lag: 10,
  });
  const r = decideReadiness([], [gone], noLetters);
  assert.deepEqual(
    r.map((x) => x.code),
    ['PROJECT_LOG_GAP', 'PROJECT_LAG'],
  );
  assert.equal(
    r[0]!.message,
    'target main: the log no longer holds what this target has not applied (partition 1: stored 30, log starts at 40); it cannot be proven complete: rebuild it from a complete log',
  );
  // Never applied, and the log's start is gone: lag 0 is not enough.
  const never = project([0], { partitions: [{ partition: 0, low: '7', high: '7', next: null, lag: 0 }], lag: 0 });
  assert.deepEqual(
    decideReadiness([], [never], noLetters).map((x) => x.message),
    [
      'target main: the log no longer holds what this target has not applied (partition 0: stored nothing, log starts at 7); it cannot be proven complete: rebuild it from a complete log',
    ],
  );
});

test('a target with a registrar cluster: ready only while the bridge records its push state and every node is up and holds the table', () => {
  const node = (nodeId: number, up: boolean, replaying = false): PushNode => ({
    nodeId,
    url: `bin:127.0.0.1:${5554 + nodeId}`,
    up,
    replaying,
    since: '2026-12-06T03:00:00.000Z',
    lastPushAt: up ? '2026-12-06T03:10:00.000Z' : null,
    latencyMs: up ? 42 : null,
  });
  const reasons = (push: ProjectStatus['push']): string[] =>
    decideReadiness([], [project([0], push ? { push } : {})], noLetters).map((r) => `${r.code}: ${r.message}`);
  assert.deepEqual(reasons({ stateAgeSeconds: 2, nodes: [node(1, true), node(2, true)] }), []);
  assert.deepEqual(reasons({ stateAgeSeconds: 2, nodes: [node(1, true), node(2, false), node(3, true, true)] }), [
    'PUSH_NODE_DOWN: target main: registrar node 2 (bin:127.0.0.1:5556) is down since 2026-12-06T03:00:00.000Z: is it running, with ulbridge in its clusterer neighbours (docs/cluster-push.md)? It gets the whole table when it is back',
    'PUSH_REPLAYING: target main: registrar node 3 (bin:127.0.0.1:5557) came up at 2026-12-06T03:00:00.000Z and is still being sent the table',
  ]);
  assert.deepEqual(reasons({ stateAgeSeconds: 11, nodes: [node(1, true)] }), [
    "PUSH_NOT_RUNNING: target main: the cluster push last recorded its state 11s ago: the registrars' memory is not kept in step; start ulbridge run with this config",
  ]);
  assert.deepEqual(reasons({ stateAgeSeconds: null, nodes: [] }), [
    "PUSH_NOT_RUNNING: target main: the cluster push has never recorded its state: the registrars' memory is not kept in step; start ulbridge run with this config",
  ]);

  const report: StatusReport = {
    ready: false,
    reasons: [],
    notes: [],
    checkedAt: '2026-12-06T03:10:01.000Z',
    ingest: [],
    project: [project([0], { push: { stateAgeSeconds: 1, nodes: [node(1, true), node(2, false)] } })],
    reverse: [],
    deadLetters: noLetters,
  };
  const text = renderStatusHuman(report);
  const section = text.split('\n\n').find((s) => s.startsWith('push'));
  assert.equal(
    section,
    [
      "push (target table -> registrars' memory: usrloc cluster replication; latency from the source commit)",
      '  TARGET  NODE  URL                 STATE  SINCE                     LAST PUSH                 LATENCY',
      '  main    1     bin:127.0.0.1:5555  up     2026-12-06T03:00:00.000Z  2026-12-06T03:10:00.000Z  42 ms',
      '  main    2     bin:127.0.0.1:5556  down   2026-12-06T03:00:00.000Z  never                     -',
    ].join('\n'),
  );
});
