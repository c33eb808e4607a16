import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { connectorConfig as stackConnectorConfig } from '../../src/stack/connectors.js';
import { schemalessUnitProblem } from '../../src/connect/columnUnits.js';
import { connectorConfig } from '../../src/connect/derive.js';
import { connectUrlOf, planConnectors } from '../../src/connect/fromConfig.js';
import { binlogBytesBetween, capturedPending, gtidsCover, lsnToBigInt, pendingTransactions } from '../../src/connect/lag.js';
import { ConnectClient } from '../../src/connect/rest.js';
import { resolveProviderRef, ulbridgeUrl, withoutPassword } from '../../src/connect/secrets.js';
import { parseConfig } from '../../src/ops/config.js';

const base = {
  kafka: { brokers: ['kafka:9092'] },
  targets: [{ name: 'main', db: 'postgres://ulbridge:tpw@target:5432/opensips', release: '4.0' }],
};

test('sources[].capture derives the topic and the PostgreSQL connector the stack registers', () => {
  const cfg = parseConfig(
    {
      ...base,
      connect: { url: 'http://connect:8083' },
      sources: [
        {
          name: 'legacy',
          release: '2.1',
          capture: { db: 'postgres://debezium:secret@legacy:5432/opensips', password: '${env:LEGACY_DB_PASSWORD}' },
        },
      ],
    },
    {},
  );
  assert.equal(cfg.sources[0]!.topic, 'ulbridge-legacy.public.location');
  const [plan] = planConnectors(cfg);
  assert.equal(plan!.name, 'ulbridge-legacy');
  assert.deepEqual(plan!.config, {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'database.hostname': 'legacy',
    'database.port': '5432',
    'database.user': 'debezium',
    'database.password': '${env:LEGACY_DB_PASSWORD}',
    'database.dbname': 'opensips',
    'plugin.name': 'pgoutput',
    'slot.name': 'ulbridge_ulbridge_legacy',
    'publication.name': 'ulbridge_pub_ulbridge_legacy',
    'publication.autocreate.mode': 'filtered',
    'table.include.list': 'public.location',
    'replica.identity.autoset.values': 'public.location:FULL',
    'tasks.max': '1',
    'topic.prefix': 'ulbridge-legacy',
    'snapshot.mode': 'initial',
    'tombstones.on.delete': 'true',
    'poll.interval.ms': '25',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': 'false',
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': 'false',
    'heartbeat.interval.ms': '5000',
  });
  assert.ok(!JSON.stringify(plan).includes('secret'), 'the literal password is never in the plan');
  // The stack's connectorConfig is the same derivation.
  const spec = {
    name: 'ulbridge-legacy',
    kind: 'postgres' as const,
    url: 'postgres://debezium@legacy:5432/opensips',
    table: 'location',
    passwordRef: '${env:LEGACY_DB_PASSWORD}',
  };
  assert.deepEqual(stackConnectorConfig(spec), connectorConfig(spec));
});

test('MariaDB and MySQL captures: server id, schema history on connect.kafkaBrokers, table from the URL database', () => {
  const cfg = parseConfig(
    {
      ...base,
      connect: { url: 'http://connect:8083/', kafkaBrokers: ['kafka-internal:29092'] },
      sources: [
        {
          name: 'm',
          release: '2.1',
          topic: 'cap-m.opensips.location',
          capture: { db: 'mariadb://debezium@maria:3306/opensips', connector: 'cap-m', serverId: 4242, heartbeatMs: 0 },
        },
        {
          name: 'y',
          release: '2.4',
          capture: { db: 'mysql://debezium@mysql/opensips', table: 'loc', config: { 'snapshot.locking.mode': 'none' } },
        },
      ],
    },
    {},
  );
  const [m, y] = planConnectors(cfg);
  assert.equal(m!.config['connector.class'], 'io.debezium.connector.mariadb.MariaDbConnector');
  assert.equal(m!.config['database.server.id'], '4242');
  assert.equal(m!.config['database.ssl.mode'], 'disable');
  assert.equal(m!.config['schema.history.internal.kafka.bootstrap.servers'], 'kafka-internal:29092');
  assert.equal(m!.config['schema.history.internal.kafka.topic'], 'ulbridge.schema-history.cap-m');
  assert.equal(m!.config['heartbeat.interval.ms'], undefined);
  assert.equal(y!.config['connector.class'], 'io.debezium.connector.mysql.MySqlConnector');
  assert.equal(y!.config['table.include.list'], 'opensips.loc');
  assert.equal(y!.config['database.port'], '3306');
  assert.equal(y!.config['snapshot.locking.mode'], 'none');
  assert.equal(cfg.sources[1]!.topic, 'ulbridge-y.opensips.loc');
  assert.equal(connectUrlOf(cfg), 'http://connect:8083');
  assert.equal(connectUrlOf(cfg, 'http://other:1'), 'http://other:1');
});

test('reverse[].capture defaults to the target database and table, and needs a reference for its password', () => {
  const raw = {
    ...base,
    sources: [{ name: 'legacy', release: '2.1', topic: 'l.public.location' }],
    reverse: [{ name: 'rollback', target: 'main', source: 'legacy', legacy: { db: 'postgres://u@legacy/opensips' }, capture: {} }],
  };
  assert.throws(() => parseConfig(raw, {}), {
    code: 'CONFIG_INVALID',
    message: /^config reverse\[0\]\.capture\.password: is missing: the database URL carries a password/,
  });
  const cfg = parseConfig(
    { ...raw, reverse: [{ ...raw.reverse[0], capture: { password: '${file:/etc/kafka/secrets.properties:target}' } }] },
    {},
  );
  assert.equal(cfg.reverse[0]!.topic, 'ulbridge-reverse-rollback.public.location');
  const [plan] = planConnectors(cfg);
  assert.equal(plan!.config['database.hostname'], 'target');
  assert.equal(plan!.config['database.password'], '${file:/etc/kafka/secrets.properties:target}');
  assert.ok(!JSON.stringify(plan).includes('tpw'));
});

test('reverse[].capture on a MariaDB target derives the MariaDB connector on the target database and table', () => {
  const cfg = parseConfig(
    {
      ...base,
      targets: [{ name: 'main', db: 'mariadb://ulbridge:tpw@new-db:3307/opensips', release: '4.0', table: 'location' }],
      sources: [{ name: 'legacy', release: '2.1', topic: 'l.public.location' }],
      reverse: [
        {
          name: 'rollback',
          target: 'main',
          source: 'legacy',
          legacy: { db: 'postgres://u@legacy/opensips' },
          capture: { password: '${env:TARGET_DB_PASSWORD}' },
        },
      ],
    },
    {},
  );
  assert.equal(cfg.reverse[0]!.capture!.kind, 'mariadb');
  assert.equal(cfg.reverse[0]!.topic, 'ulbridge-reverse-rollback.opensips.location');
  const [plan] = planConnectors(cfg);
  assert.equal(plan!.stage, 'reverse');
  assert.equal(plan!.topic, 'ulbridge-reverse-rollback.opensips.location');
  assert.equal(plan!.config['connector.class'], 'io.debezium.connector.mariadb.MariaDbConnector');
  assert.equal(plan!.config['database.hostname'], 'new-db');
  assert.equal(plan!.config['database.port'], '3307');
  assert.equal(plan!.config['table.include.list'], 'opensips.location');
  assert.equal(plan!.config['database.password'], '${env:TARGET_DB_PASSWORD}');
  assert.ok(!JSON.stringify(plan).includes('tpw'));
  // A mysql:// target gets the MySQL connector.
  const my = parseConfig(
    {
      ...cfg,
      targets: [{ ...cfg.targets[0]!, db: 'mysql://ulbridge:tpw@new-db/opensips' }],
      reverse: [{ ...cfg.reverse[0]!, topic: undefined, capture: { password: '${env:P}' } }],
    },
    {},
  );
  assert.equal(planConnectors(my)[0]!.config['connector.class'], 'io.debezium.connector.mysql.MySqlConnector');
});

test('capture keys are validated with the config rules', () => {
  const src = (capture: unknown, extra: Record<string, unknown> = {}) => ({
    ...base,
    sources: [{ name: 'legacy', release: '2.1', ...extra, capture }],
  });
  const bad = (raw: unknown, message: RegExp) => assert.throws(() => parseConfig(raw, {}), { code: 'CONFIG_INVALID', message });
  bad({ ...base, sources: [{ name: 'legacy', release: '2.1' }] }, /^config sources\[0\]\.topic: is missing$/);
  bad(src({}), /^config sources\[0\]\.capture\.db: is missing$/);
  bad(src({ db: 'http://x/db' }), /^config sources\[0\]\.capture\.db: must be a postgres:\/\//);
  bad(
    src({ db: 'postgres://u@h/db', password: 'hunter2' }),
    /^config sources\[0\]\.capture\.password: must be a Kafka Connect config provider reference/,
  );
  bad(src({ db: 'postgres://u@h/db', connector: 'bad name' }), /^config sources\[0\]\.capture\.connector: must be 1-48 letters/);
  bad(src({ db: 'postgres://u@h/db', bogus: 1 }), /^config sources\[0\]\.capture: Unrecognized key: "bogus"/);
  bad(
    src({ db: 'postgres://u@h/db' }, { topic: 'other' }),
    /^config sources\[0\]\.topic: "other" is not the topic of sources\[0\]\.capture \("ulbridge-legacy\.public\.location"\)/,
  );
  bad(src({ db: 'mysql://u@h/db', slotName: 's' }), /^config sources\[0\]\.capture\.slotName: only PostgreSQL connectors have one$/);
  bad(
    {
      ...base,
      sources: [
        { name: 'a', release: '2.1', capture: { db: 'postgres://u@h/db', connector: 'c' } },
        { name: 'b', release: '2.1', capture: { db: 'postgres://u@h/db2', connector: 'c' } },
      ],
    },
    /^config sources\[1\]\.capture\.connector: the connector name "c" is also sources\[0\]\.capture's$/,
  );
  bad(
    { ...base, sources: [{ name: 'a', release: '2.1', topic: 't' }], connect: { url: 'connect:8083' } },
    /^config connect\.url: must be an http/,
  );
  const noUrl = parseConfig(src({ db: 'postgres://u@h/db' }), {});
  assert.throws(() => connectUrlOf(noUrl), { code: 'CONFIG_INVALID', message: 'config connect.url: is missing (or pass --connect URL)' });
  assert.equal(connectUrlOf(parseConfig(src({ db: 'postgres://u@h/db' }), { ULBRIDGE_CONNECT_URL: 'http://env:8083' })), 'http://env:8083');
});

test('value schemas: off unless capture.valueSchemas; an encoding only a schema states is refused without them', () => {
  const cfg = (capture: Record<string, unknown>) =>
    parseConfig({ ...base, sources: [{ name: 'legacy', release: '2.1', capture: { db: 'postgres://u@h/db', ...capture } }] }, {});
  const valueSchemas = (capture: Record<string, unknown>) => planConnectors(cfg(capture))[0]!.config['value.converter.schemas.enable'];
  assert.equal(valueSchemas({}), 'false');
  assert.equal(valueSchemas({ valueSchemas: true }), 'true');
  assert.equal(valueSchemas({ config: { 'time.precision.mode': 'adaptive', 'bigint.unsigned.handling.mode': 'long' } }), 'false');

  const refused = (capture: Record<string, unknown>, message: string) =>
    assert.throws(() => planConnectors(cfg(capture)), { code: 'CONFIG_INVALID', message });
  refused(
    { config: { 'time.precision.mode': 'connect' } },
    'config sources[0].capture: connector ulbridge-legacy: time.precision.mode=connect changes an encoding that only the value schema states; turn value schemas on with it (capture.valueSchemas: true)',
  );
  refused(
    { config: { 'bigint.unsigned.handling.mode': 'precise' } },
    'config sources[0].capture: connector ulbridge-legacy: bigint.unsigned.handling.mode=precise changes an encoding that only the value schema states; turn value schemas on with it (capture.valueSchemas: true)',
  );
  // With value schemas (stated either way) the decoder reads each value's encoding from its schema.
  assert.equal(
    planConnectors(cfg({ valueSchemas: true, config: { 'time.precision.mode': 'connect' } }))[0]!.config['time.precision.mode'],
    'connect',
  );
  assert.equal(
    planConnectors(cfg({ config: { 'value.converter.schemas.enable': 'true', 'time.precision.mode': 'connect' } }))[0]!.config[
      'time.precision.mode'
    ],
    'connect',
  );
});

test('schemaless DATETIME units: the precisions whose Debezium unit is not the one the ingest assumes are named', () => {
  const col = (type: string, precision: number | null) => ({ name: 'last_modified', type, precision });
  // PostgreSQL: adaptive mode sends timestamp(0-3) in milliseconds, timestamp(4-6) in microseconds.
  assert.equal(schemalessUnitProblem('postgres', col('timestamp', 6)), null);
  assert.equal(schemalessUnitProblem('postgres', col('timestamp', 4)), null);
  assert.equal(
    schemalessUnitProblem('postgres', col('timestamp', 3)),
    "column last_modified is timestamp(3): Debezium sends it in milliseconds, and values without schemas are read as a PostgreSQL timestamp's microseconds (timestamp(4) to timestamp(6))",
  );
  assert.notEqual(schemalessUnitProblem('postgres', col('timestamp', 0)), null);
  assert.equal(schemalessUnitProblem('postgres', col('timestamptz', 3)), null, 'a ZonedTimestamp is an ISO string: no unit');
  assert.equal(schemalessUnitProblem('postgres', col('int4', null)), null, '2.4+ expires: unix seconds');
  // MySQL/MariaDB: DATETIME(0-3) in milliseconds, DATETIME(4-6) in microseconds.
  assert.equal(schemalessUnitProblem('mysql', col('datetime', 0)), null);
  assert.equal(schemalessUnitProblem('mysql', col('datetime', 3)), null);
  assert.equal(
    schemalessUnitProblem('mysql', col('datetime', 6)),
    "column last_modified is DATETIME(6): Debezium sends it in microseconds, and values without schemas are read as a DATETIME's milliseconds (DATETIME to DATETIME(3))",
  );
  assert.equal(schemalessUnitProblem('mysql', col('timestamp', 6)), null, 'a ZonedTimestamp is an ISO string: no unit');
  assert.equal(schemalessUnitProblem('mysql', col('int', null)), null);
});

test('provider references resolve for ulbridge itself; Connect gets the URL without password', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-secrets-'));
  writeFileSync(join(dir, 'secrets.properties'), '# comment\nlegacy.password = s3:cr=t\nother=x\n');
  writeFileSync(join(dir, 'pw'), 'from-dir\n');
  assert.equal(resolveProviderRef('${env:PW}', { PW: 'e' }), 'e');
  assert.equal(resolveProviderRef(`\${file:${join(dir, 'secrets.properties')}:legacy.password}`, {}), 's3:cr=t');
  assert.equal(resolveProviderRef(`\${dir:${dir}:pw}`, {}), 'from-dir');
  assert.throws(() => resolveProviderRef('${env:NOPE}', {}), { code: 'CAPTURE_PASSWORD_UNAVAILABLE' });
  assert.equal(ulbridgeUrl('postgres://u@h:5432/db', '${env:PW}', { PW: 'p@ss' }), 'postgres://u:p%40ss@h:5432/db');
  assert.equal(ulbridgeUrl('postgres://u:own@h/db', '${env:PW}', {}), 'postgres://u:own@h/db');
  assert.equal(withoutPassword('mysql://u:pw@h:3306/db'), 'mysql://u@h:3306/db');
});

test('lag arithmetic: LSNs, GTID coverage, binlog bytes across files', () => {
  assert.equal(lsnToBigInt('0/15611190'), 0x15611190n);
  assert.equal(lsnToBigInt('1/0'), 1n << 32n);
  assert.equal(gtidsCover('0-1-749', '0-1-749'), true);
  assert.equal(gtidsCover('0-1-750,1-2-3', '0-1-749,1-2-3'), true);
  assert.equal(gtidsCover('0-1-748', '0-1-749'), false);
  assert.equal(gtidsCover('0-1-800', '0-1-749,2-1-1'), false, 'a domain the connector has not seen');
  assert.equal(gtidsCover('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5', '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5'), true);
  assert.equal(gtidsCover('aaa:1-5', 'aaa:1-7'), false);
  const sizes = new Map([
    ['b.000001', 1000n],
    ['b.000002', 500n],
    ['b.000003', 300n],
  ]);
  assert.equal(binlogBytesBetween({ file: 'b.000001', pos: 100n }, { file: 'b.000001', pos: 400n }, sizes), 300n);
  assert.equal(binlogBytesBetween({ file: 'b.000001', pos: 900n }, { file: 'b.000003', pos: 40n }, sizes), 100n + 500n + 40n);
  assert.equal(binlogBytesBetween({ file: 'b.000003', pos: 40n }, { file: 'b.000001', pos: 900n }, sizes), 0n);
  assert.equal(binlogBytesBetween({ file: 'a.000001', pos: 4n }, { file: 'b.000003', pos: 40n }, sizes), null);
});

test('binlog between the connector and the database: only changes to the captured table the connector has not emitted are pending', () => {
  const ev = (Event_type: string, Info = '') => ({ Log_name: 'b.000001', Pos: 0, Event_type, End_log_pos: 0, Info });
  const own = [
    ev('Gtid', 'BEGIN GTID 0-1-851'),
    ev('Table_map', 'table_id: 36 (legacy.location)'),
    ev('Write_rows_v1', 'table_id: 36 flags: STMT_END_F'),
    ev('Xid', 'COMMIT /* xid=9 */'),
  ];
  const other = [
    ev('Gtid', 'BEGIN GTID 0-1-852'),
    ev('Table_map', 'table_id: 40 (otherdb.t)'),
    ev('Write_rows_v1', 'table_id: 40 flags: STMT_END_F'),
    ev('Xid', 'COMMIT'),
  ];
  // Idle after its own change: the offset points at that transaction with its row event counted.
  assert.equal(capturedPending(own, 'legacy.location', 2), false);
  assert.equal(capturedPending(own, 'legacy.location', 1), true, 'its row event not reached yet');
  assert.equal(capturedPending(own, 'legacy.location', null), true, 'an offset at the transaction start has emitted nothing of it');
  // Other databases' transactions are not pending; a later change to the table is.
  assert.equal(capturedPending([...own, ...other, ...other], 'legacy.location', 2), false);
  assert.equal(capturedPending([...other, ...own], 'legacy.location', 2), true);
  assert.equal(capturedPending([...own, ...other, ...own], 'legacy.location', 2), true);
  assert.equal(capturedPending(own, 'legacy.locations', null), false, 'another table of the same database');
  assert.deepEqual(
    pendingTransactions([...other, ...own, ...other], 'legacy.location', null),
    ['0-1-851'],
    'the GTIDs to look for in the topic',
  );
  // MySQL: Gtid, then Query BEGIN in the same transaction.
  const mysqlTxn = [
    ev('Gtid', "SET @@SESSION.GTID_NEXT= 'a:5'"),
    ev('Query', 'BEGIN'),
    ev('Table_map', 'table_id: 7 (legacy.location)'),
    ev('Write_rows', 'table_id: 7'),
    ev('Xid', 'COMMIT'),
  ];
  assert.equal(capturedPending(mysqlTxn, 'legacy.location', 3), false);
  assert.equal(capturedPending([...mysqlTxn, ...mysqlTxn], 'legacy.location', 3), true);
  assert.deepEqual(pendingTransactions([...mysqlTxn, ...mysqlTxn], 'legacy.location', 3), ['a:5']);
});

test('ConnectClient repeats a request while Connect answers that it rebalances (409, 500 "rebalance is expected"), then gives its answer', async () => {
  const answers = [
    { status: 500, body: '{"error_code":500,"message":"Request cannot be completed because a rebalance is expected"}' },
    { status: 409, body: '{"error_code":409,"message":"Cannot complete request momentarily due to stale configuration"}' },
    { status: 200, body: '{"name":"c"}' },
    { status: 500, body: '{"error_code":500,"message":"boom"}' },
  ];
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const a = answers.shift()!;
    res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new ConnectClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 5_000, 10_000);
    const ok = await client.call('GET', '/connectors/c/config');
    assert.deepEqual([ok.status, ok.json], [200, { name: 'c' }]);
    assert.deepEqual(seen, ['GET /connectors/c/config', 'GET /connectors/c/config', 'GET /connectors/c/config']);
    // Any other error is answered at once.
    assert.equal((await client.call('GET', '/connectors/c/config')).status, 500);
    assert.equal(seen.length, 4);
  } finally {
    server.close();
  }
});
