import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { applyConnectors, captureStatuses } from '../../src/connect/connect.js';
import { configCaptures } from '../../src/connect/fromConfig.js';
import { captureLag } from '../../src/connect/lag.js';
import { ConnectClient } from '../../src/connect/rest.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { silentLogger } from '../../src/ops/logger.js';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { runStatus } from '../../src/service/status.js';
import type { StatusReport } from '../../src/service/statusVerdict.js';
import { deleteConnector } from '../../src/stack/connectors.js';
import { cli } from '../support/cli.js';
import { connectUrl, freshMariaDb, freshPostgresDb, kafkaBrokers, loadDdl, withMysql, withPg, type FreshDb } from '../support/services.js';

// `ulbridge connect plan|apply|status` and the capture stage of `ulbridge status` against the real
// stack: a 2.1 PostgreSQL legacy table, a 2.1 MariaDB legacy table and a 4.0 PostgreSQL target with
// a reverse capture, all three connectors derived from one bridge config.

const tag = `capt${process.pid}`;
let pgLegacy: FreshDb;
let mariaLegacy: FreshDb;
let target: FreshDb;
let cfg: Config;
let file: string;
let bridge: Bridge | null = null;
const client = new ConnectClient(connectUrl());

before(async () => {
  pgLegacy = await freshPostgresDb(`${tag}_pg`);
  mariaLegacy = await freshMariaDb(`${tag}_maria`);
  target = await freshPostgresDb(`${tag}_target`);
  await createLocationTable(pgLegacy.url, '2.1');
  await loadDdl(mariaLegacy.url, 'mysql', '2.1');
  await createLocationTable(target.url, '4.0');
  await insertPg(pgLegacy.url, 'alice', 1);
  await insertMaria(mariaLegacy.url, 'bob', 1);
  const raw = {
    kafka: { brokers: kafkaBrokers() },
    connect: { url: connectUrl() },
    log: { topic: `${tag}.registrations`, partitions: 2, deadLetterTopic: `${tag}.dead-letters` },
    sources: [
      { name: 'pglegacy', release: '2.1', capture: { db: pgLegacy.url, connector: `${tag}-pg`, heartbeatMs: 1000 } },
      {
        name: 'marialegacy',
        release: '2.1',
        capture: { db: mariaLegacy.url, kind: 'mariadb', connector: `${tag}-maria`, heartbeatMs: 1000 },
      },
    ],
    targets: [{ name: 'main', db: target.url, release: '4.0', hashSize: 9 }],
    reverse: [
      {
        name: 'rollback',
        target: 'main',
        source: 'pglegacy',
        legacy: { db: pgLegacy.url },
        capture: { connector: `${tag}-target`, heartbeatMs: 1000 },
      },
    ],
    http: { port: 0 },
  };
  cfg = parseConfig(raw, {});
  file = join(mkdtempSync(join(tmpdir(), 'ulbridge-connect-')), 'bridge.json');
  writeFileSync(file, JSON.stringify(raw));
});

after(async () => {
  await bridge?.stop();
  for (const c of configCaptures(
    cfg ?? parseConfig({ kafka: { brokers: ['x:1'] }, sources: [{ name: 'x', release: '2.1', topic: 't' }] }, {}),
  )) {
    const spec = { ...c.spec, url: c.capture.db };
    await deleteConnector(connectUrl(), c.spec.name, { cleanup: spec }).catch(() => undefined);
  }
  for (const db of [pgLegacy, mariaLegacy, target]) await db?.drop().catch(() => undefined);
});

async function insertPg(url: string, user: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (let i = 0; i < n; i++) {
      await c.query(
        `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES ($1, 'example.com', $2, now() + interval '1 hour', $3, 1, now(), 'test')`,
        [user, `sip:${user}@10.0.0.${i + 1}`, `${user}-${i}-${Date.now()}`],
      );
    }
  } finally {
    await c.end();
  }
}

async function insertMaria(url: string, user: string, n: number): Promise<void> {
  const c = await mysql.createConnection(url);
  try {
    for (let i = 0; i < n; i++) {
      await c.query(
        `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES (?, 'example.com', ?, UTC_TIMESTAMP() + INTERVAL 1 HOUR, ?, 1, UTC_TIMESTAMP(), 'test')`,
        [user, `sip:${user}@10.0.1.${i + 1}`, `${user}-${i}-${Date.now()}`],
      );
    }
  } finally {
    await c.end();
  }
}

async function replicaIdentity(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ r: string }>("SELECT relreplident AS r FROM pg_class WHERE oid = 'public.location'::regclass")).rows[0]!.r;
  } finally {
    await c.end();
  }
}

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await get();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

test('plan prints one connector per capture, derived from the config', async () => {
  const r = await cli(['connect', 'plan', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { connectors: Array<{ name: string; stage: string; topic: string; config: Record<string, string> }> };
  assert.deepEqual(
    doc.connectors.map((c) => [c.name, c.stage, c.topic]),
    [
      [`${tag}-pg`, 'source', `${tag}-pg.public.location`],
      [`${tag}-maria`, 'source', `${tag}-maria.${mariaLegacy.name}.location`],
      [`${tag}-target`, 'reverse', `${tag}-target.public.location`],
    ],
  );
  assert.equal(doc.connectors[1]!.config['connector.class'], 'io.debezium.connector.mariadb.MariaDbConnector');
  assert.equal(doc.connectors[2]!.config['database.dbname'], target.name);
});

test('apply creates the connectors and sets REPLICA IDENTITY FULL; a second apply changes nothing; status shows them RUNNING and caught up', async () => {
  assert.equal(await replicaIdentity(pgLegacy.url), 'd');
  const first = await cli(['connect', 'apply', '--config', file, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const applied = JSON.parse(first.stdout) as {
    connectors: Array<{ name: string; action: string; replicaIdentitySet: boolean | null; state: string }>;
  };
  assert.deepEqual(
    applied.connectors.map((c) => [c.name, c.action, c.replicaIdentitySet, c.state]),
    [
      [`${tag}-pg`, 'created', true, 'RUNNING'],
      [`${tag}-maria`, 'created', null, 'RUNNING'],
      [`${tag}-target`, 'created', true, 'RUNNING'],
    ],
  );
  assert.equal(await replicaIdentity(pgLegacy.url), 'f');
  assert.equal(await replicaIdentity(target.url), 'f');
  const again = await applyConnectors(cfg, connectUrl());
  assert.deepEqual(
    again.map((c) => [c.name, c.action, c.replicaIdentitySet]),
    [
      [`${tag}-pg`, 'unchanged', false],
      [`${tag}-maria`, 'unchanged', null],
      [`${tag}-target`, 'unchanged', false],
    ],
  );

  // Changes made now reach the connectors; every one ends caught up with its database.
  await insertPg(pgLegacy.url, 'carol', 5);
  await insertMaria(mariaLegacy.url, 'dave', 5);
  const rows = await waitFor(
    'capture caught up',
    () => captureStatuses(cfg, connectUrl(), { waitMs: 5000 }),
    (s) => s.every((c) => c.running && c.caughtUp),
  );
  for (const c of rows) {
    assert.equal(c.state, 'RUNNING');
    assert.deepEqual(
      c.tasks.map((t) => [t.id, t.state]),
      [[0, 'RUNNING']],
    );
    assert.equal(c.lagBytes, '0');
    assert.equal(c.problem, null);
  }
  const [pgRow, mariaRow] = rows;
  assert.match(pgRow!.databasePosition!, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(pgRow!.slotActive, true);
  assert.match(pgRow!.unconfirmedBytes!, /^\d+$/);
  assert.match(mariaRow!.databasePosition!, /^[\w.-]+:\d+ gtid \d+-\d+-\d+/);
  assert.match(mariaRow!.connectorPosition!, /^[\w.-]+:\d+ gtid \d+-\d+-\d+/);

  const st = await cli(['connect', 'status', '--config', file]);
  assert.equal(st.code, 0, st.stdout + st.stderr);
  assert.match(
    st.stdout,
    new RegExp(
      `^CONNECTOR\\s+STAGE\\s+KIND\\s+STATE\\s+TASKS\\s+DB POSITION\\s+CONNECTOR POSITION\\s+LAG BYTES\\n${tag}-pg\\s+source pglegacy\\s+postgres\\s+RUNNING\\s+0:RUNNING\\s`,
    ),
  );
});

test('a paused MariaDB connector: binlog written meanwhile is lag in bytes, connect status exits 1', async () => {
  const name = `${tag}-maria`;
  const [maria] = configCaptures(cfg).filter((c) => c.spec.name === name);
  assert.equal((await client.call('PUT', `/connectors/${name}/pause`)).status, 202);
  await waitFor(
    'paused',
    () => client.status(name),
    (s) => s?.connector.state === 'PAUSED' && s.tasks.every((t) => t.state === 'PAUSED'),
  );
  const c = await mysql.createConnection(mariaLegacy.url);
  const [[before]] = (await c.query('SHOW MASTER STATUS')) as unknown as [[{ File: string; Position: number }]];
  await c.end();
  await insertMaria(mariaLegacy.url, 'erin', 3);
  const topic = { brokers: kafkaBrokers(), topic: maria!.topic };
  const lag = await captureLag(mariaLegacy.url, maria!.spec, client, 1000, topic);
  assert.equal(lag.caughtUp, false);
  assert.ok(lag.lagBytes !== null && BigInt(lag.lagBytes) > 0n, `lag ${lag.lagBytes}`);
  const [file0, pos0] = lag.databasePosition!.split(' ')[0]!.split(':');
  if (file0 === before.File) assert.ok(BigInt(pos0!) > BigInt(before.Position), 'the database moved past the position before the inserts');

  const st = await cli(['connect', 'status', '--config', file, '--json']);
  assert.equal(st.code, 1);
  const doc = JSON.parse(st.stdout) as { allRunning: boolean; connectors: Array<{ connector: string; state: string; running: boolean }> };
  assert.equal(doc.allRunning, false);
  assert.deepEqual(
    doc.connectors.map((x) => [x.connector, x.state, x.running]),
    [
      [`${tag}-pg`, 'RUNNING', true],
      [name, 'PAUSED', false],
      [`${tag}-target`, 'RUNNING', true],
    ],
  );
  assert.equal((await client.call('PUT', `/connectors/${name}/resume`)).status, 202);
  const back = await waitFor(
    'caught up after resume',
    () => captureLag(mariaLegacy.url, maria!.spec, client, 2000, topic),
    (l) => l.caughtUp,
  );
  assert.equal(back.lagBytes, '0');
});

test('ulbridge status: a capture stage per connector, READY only while each runs and is caught up', async () => {
  bridge = await startBridge(cfg, silentLogger, { http: false });
  // The reverse topic exists once something writes the target table: the projection does.
  const waitReady = (): Promise<StatusReport> =>
    waitFor(
      'status READY',
      () =>
        runStatus({ config: cfg, deadLettersSinceMs: null, captureWaitMs: 3000 }).catch(
          (e: Error) => ({ ready: false, reasons: [{ code: 'ERROR', message: e.message }] }) as unknown as StatusReport,
        ),
      (r) => r.ready,
      120_000,
    );
  const ready = await waitReady();
  assert.deepEqual(ready.reasons, []);
  assert.deepEqual(ready.notes, []);
  assert.deepEqual(
    ready.capture!.map((c) => [c.stage, c.pipeline, c.connector, c.state, c.lagBytes]),
    [
      ['source', 'pglegacy', `${tag}-pg`, 'RUNNING', '0'],
      ['source', 'marialegacy', `${tag}-maria`, 'RUNNING', '0'],
      ['reverse', 'rollback', `${tag}-target`, 'RUNNING', '0'],
    ],
  );

  const name = `${tag}-maria`;
  assert.equal((await client.call('PUT', `/connectors/${name}/pause`)).status, 202);
  await waitFor(
    'paused',
    () => client.status(name),
    (s) => s?.connector.state === 'PAUSED' && s.tasks.every((t) => t.state === 'PAUSED'),
  );
  const human = await cli(['status', '--config', file]);
  assert.equal(human.code, 1, human.stdout + human.stderr);
  assert.match(
    human.stdout,
    new RegExp(
      `^ulbridge status: NOT READY for cut-over \\(checked [^)]+\\)\\n  - CAPTURE_NOT_RUNNING: source marialegacy: connector ${name} is PAUSED \\(tasks 0:PAUSED\\); see the Connect worker's log`,
    ),
  );
  assert.equal(human.stdout.match(/^ {2}- /gm)!.length, 1, 'exactly one reason');
  assert.match(
    human.stdout,
    /\ncapture \(database -> CDC topic: Debezium connectors in Kafka Connect; lag in bytes behind the database at the check\)\n {2}CAPTURE +CONNECTOR +STATE +TASKS +DB POSITION +CONNECTOR POSITION +LAG BYTES\n {2}source pglegacy +\S+ +RUNNING +0:RUNNING +[0-9A-F]+\/[0-9A-F]+ +[0-9A-F]+\/[0-9A-F]+ +0\n {2}source marialegacy +\S+ +PAUSED +0:PAUSED +- +- +-\n {2}reverse rollback /,
  );
  process.stdout.write(`${human.stdout}\n`);
  assert.equal((await client.call('PUT', `/connectors/${name}/resume`)).status, 202);
  await waitReady();

  // Connect unreachable is an operational error, exit 2.
  const down = await cli(['status', '--config', file], { ...process.env, ULBRIDGE_CONNECT_URL: 'http://127.0.0.1:9' });
  assert.equal(down.code, 2);
  assert.match(down.stderr, /^ulbridge: CONNECT_UNREACHABLE: Kafka Connect at http:\/\/127\.0\.0\.1:9 does not answer/);
});

test('apply refuses a schemaless capture of a table whose DATETIME precision Debezium sends in another unit; valueSchemas: true takes it', async () => {
  const pgOdd = await freshPostgresDb(`${tag}_pgodd`);
  const mariaOdd = await freshMariaDb(`${tag}_mariaodd`);
  try {
    await createLocationTable(pgOdd.url, '2.1');
    await loadDdl(mariaOdd.url, 'mysql', '2.1');
    await withPg(pgOdd.url, (c) => c.query('ALTER TABLE location ALTER COLUMN last_modified TYPE timestamp(3)'));
    await withMysql(mariaOdd.url, (c) => c.query("ALTER TABLE location MODIFY expires DATETIME(6) NOT NULL DEFAULT '2030-05-28 21:32:15'"));
    // Connect is never reached: the check comes first (a dead port shows where apply got to).
    const config = (db: string, capture: Record<string, unknown>) =>
      parseConfig(
        {
          kafka: { brokers: kafkaBrokers() },
          connect: { url: 'http://127.0.0.1:9' },
          sources: [{ name: 'odd', release: '2.1', capture: { db, connector: `${tag}-odd`, ...capture } }],
          targets: [{ name: 'main', db: target.url, release: '4.0', hashSize: 9 }],
        },
        {},
      );
    const apply = (db: string, capture: Record<string, unknown> = {}) => {
      const c = config(db, capture);
      return applyConnectors(c, 'http://127.0.0.1:9', { waitMs: 2_000 });
    };
    await assert.rejects(apply(pgOdd.url), {
      code: 'CAPTURE_COLUMN_UNITS',
      message:
        "sources[0].capture: table location: column last_modified is timestamp(3): Debezium sends it in milliseconds, and values without schemas are read as a PostgreSQL timestamp's microseconds (timestamp(4) to timestamp(6)). Set sources[0].capture.valueSchemas: true: each value then states its unit",
    });
    await assert.rejects(apply(mariaOdd.url, { kind: 'mariadb' }), {
      code: 'CAPTURE_COLUMN_UNITS',
      message:
        "sources[0].capture: table location: column expires is DATETIME(6): Debezium sends it in microseconds, and values without schemas are read as a DATETIME's milliseconds (DATETIME to DATETIME(3)). Set sources[0].capture.valueSchemas: true: each value then states its unit",
    });
    // With value schemas each value states its unit: apply goes on to Kafka Connect.
    await assert.rejects(apply(pgOdd.url, { valueSchemas: true }), { code: 'CONNECT_UNREACHABLE' });
    await assert.rejects(apply(mariaOdd.url, { kind: 'mariadb', valueSchemas: true }), { code: 'CONNECT_UNREACHABLE' });
    // The tables OpenSIPS creates pass the check: the suite's legacy tables above go on too.
    await assert.rejects(apply(pgLegacy.url), { code: 'CONNECT_UNREACHABLE' });
    await assert.rejects(apply(mariaLegacy.url, { kind: 'mariadb' }), { code: 'CONNECT_UNREACHABLE' });
  } finally {
    await pgOdd.drop().catch(() => undefined);
    await mariaOdd.drop().catch(() => undefined);
  }
});
