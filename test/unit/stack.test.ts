/** Pure parts of src/stack (no services needed): configs, names, parsing, process helpers. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServices } from '../../src/cli/stack.js';
import { changeTopic, connectorConfig, defaultServerId, pgIdent, type ConnectorSpec } from '../../src/stack/connectors.js';
import { connectWorkerProperties } from '../../src/stack/connect.js';
import { formatCommand } from '../../src/stack/errors.js';
import { pomHash } from '../../src/stack/jars.js';
import { parseJavaMajor } from '../../src/stack/java.js';
import { kafkaServerProperties, newClusterId } from '../../src/stack/kafka.js';
import { mariadbArgs } from '../../src/stack/mariadb.js';
import { allocatePorts } from '../../src/stack/ports.js';
import { postgresSettings } from '../../src/stack/postgres.js';
import { isAlive, serviceProcesses, spawnLogged, stopGroup } from '../../src/stack/process.js';
import { resolveServices } from '../../src/stack/stack.js';

const pgSpec: ConnectorSpec = {
  name: 'src-pg',
  kind: 'postgres',
  url: 'postgres://postgres:s%40cret@db.internal:5433/opensips',
  table: 'location',
};
const mariaSpec: ConnectorSpec = {
  name: 'src-maria',
  kind: 'mariadb',
  url: 'mysql://root@127.0.0.1:3307/opensips',
  table: 'location',
  kafkaBrokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
};

describe('connector configuration', () => {
  test('PostgreSQL: pgoutput, own slot and publication, full replica identity, JSON key without / value with schema', () => {
    assert.deepEqual(connectorConfig(pgSpec), {
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'database.hostname': 'db.internal',
      'database.port': '5433',
      'database.user': 'postgres',
      'database.password': 's@cret',
      'database.dbname': 'opensips',
      'plugin.name': 'pgoutput',
      'slot.name': 'ulbridge_src_pg',
      'publication.name': 'ulbridge_pub_src_pg',
      'publication.autocreate.mode': 'filtered',
      'table.include.list': 'public.location',
      'replica.identity.autoset.values': 'public.location:FULL',
      'tasks.max': '1',
      'topic.prefix': 'src-pg',
      'snapshot.mode': 'initial',
      'tombstones.on.delete': 'true',
      'poll.interval.ms': '25',
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'false',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'false',
    });
    assert.equal(changeTopic(pgSpec), 'src-pg.public.location');
  });

  test('PostgreSQL options: schema-qualified table, schemas, no replica identity change, overrides, notifications', () => {
    const c = connectorConfig(
      {
        ...pgSpec,
        table: 'usrloc.location',
        schemas: { key: true, value: false },
        replicaIdentityFull: false,
        config: { 'snapshot.mode': 'no_data' },
      },
      { notifications: true },
    );
    assert.equal(c['table.include.list'], 'usrloc.location');
    assert.equal(c['replica.identity.autoset.values'], undefined);
    assert.equal(c['key.converter.schemas.enable'], 'true');
    assert.equal(c['value.converter.schemas.enable'], 'false');
    assert.equal(c['snapshot.mode'], 'no_data');
    assert.equal(c['notification.enabled.channels'], 'sink');
    assert.equal(c['notification.sink.topic.name'], 'ulbridge.debezium-notifications.src-pg');
    assert.equal(changeTopic({ ...pgSpec, table: 'usrloc.location', topicPrefix: 'p' }), 'p.usrloc.location');
  });

  test('MariaDB: MariaDbConnector, server id, database filter, schema history topic', () => {
    const c = connectorConfig(mariaSpec);
    assert.equal(c['connector.class'], 'io.debezium.connector.mariadb.MariaDbConnector');
    assert.equal(c['database.server.id'], String(defaultServerId('src-maria')));
    assert.equal(c['database.include.list'], 'opensips');
    assert.equal(c['table.include.list'], 'opensips.location');
    assert.equal(c['database.ssl.mode'], 'disable');
    assert.equal(c['schema.history.internal.kafka.bootstrap.servers'], '127.0.0.1:9092,127.0.0.1:9093');
    assert.equal(c['schema.history.internal.kafka.topic'], 'ulbridge.schema-history.src-maria');
    assert.equal(c['include.schema.changes'], 'false');
    assert.equal(changeTopic(mariaSpec), 'src-maria.opensips.location');
    const id = defaultServerId('src-maria');
    assert.ok(id >= 100_000 && id < 1_000_000);
    assert.equal(connectorConfig({ ...mariaSpec, serverId: 4242 })['database.server.id'], '4242');
  });

  test('MySQL: MySqlConnector with its own ssl mode spelling', () => {
    const c = connectorConfig({ ...mariaSpec, kind: 'mysql' });
    assert.equal(c['connector.class'], 'io.debezium.connector.mysql.MySqlConnector');
    assert.equal(c['database.ssl.mode'], 'disabled');
  });

  test('invalid specs are refused with STACK_CONNECTOR_FAILED', () => {
    assert.throws(() => connectorConfig({ ...pgSpec, name: 'bad name' }), { code: 'STACK_CONNECTOR_FAILED' });
    assert.throws(() => connectorConfig({ ...mariaSpec, url: 'mysql://root@h:3306/' }), {
      code: 'STACK_CONNECTOR_FAILED',
      message: /must name the database/,
    });
    assert.throws(() => connectorConfig({ ...mariaSpec, kafkaBrokers: [] }), { code: 'STACK_CONNECTOR_FAILED', message: /kafkaBrokers/ });
  });

  test('PostgreSQL identifiers are lower-case, safe and at most 63 bytes', () => {
    assert.equal(pgIdent('ulbridge', 'My-Conn.1'), 'ulbridge_my_conn_1');
    const long = pgIdent('ulbridge', 'x'.repeat(100));
    assert.equal(long.length, 63);
    assert.notEqual(long, pgIdent('ulbridge', `${'x'.repeat(99)}y`));
  });
});

describe('service configuration', () => {
  test('services: default all four in start order; connect implies kafka; unknown refused', () => {
    assert.deepEqual(resolveServices(), ['postgres', 'mariadb', 'kafka', 'connect']);
    assert.deepEqual(resolveServices(['connect']), ['kafka', 'connect']);
    assert.deepEqual(resolveServices(['mariadb', 'postgres']), ['postgres', 'mariadb']);
    assert.throws(() => resolveServices(['zookeeper' as never]), { code: 'STACK_START_FAILED' });
    assert.deepEqual(parseServices('postgres, connect'), ['postgres', 'connect']);
    assert.throws(() => parseServices('postgres,redis'), /unknown service "redis"/);
  });

  test('PostgreSQL: logical decoding with room for ~10 connectors, 127.0.0.1 only', () => {
    const s = postgresSettings(5555, '/tmp/x');
    assert.equal(s.wal_level, 'logical');
    assert.ok(Number(s.max_replication_slots) >= 10 && Number(s.max_wal_senders) >= 10);
    assert.equal(s.listen_addresses, '127.0.0.1');
    assert.equal(s.port, '5555');
    // Debezium sees a commit once its WAL is flushed: off, each change waited up to 200 ms.
    assert.equal(s.synchronous_commit, 'on');
  });

  test('MariaDB: ROW binlog with FULL row images and a server id, 127.0.0.1 only, tables in memory', () => {
    const a = mariadbArgs('/tmp/m', 3310);
    for (const f of [
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--server-id=1',
      '--bind-address=127.0.0.1',
      '--port=3310',
      '--no-defaults',
      // A bench's 200,000-row table and its state fit (at 64M the benches read and wrote the disk).
      '--innodb-buffer-pool-size=512M',
    ])
      assert.ok(a.includes(f), f);
    assert.ok(a.some((x) => x.startsWith('--log-bin=')));
  });

  test('Kafka: one KRaft node, replication factor 1 everywhere, auto topic creation', () => {
    const p = kafkaServerProperties('/d', 9092, 9093);
    assert.equal(p['process.roles'], 'broker,controller');
    assert.equal(p['controller.quorum.voters'], '1@127.0.0.1:9093');
    assert.equal(p['advertised.listeners'], 'PLAINTEXT://127.0.0.1:9092');
    assert.equal(p['auto.create.topics.enable'], true);
    for (const k of [
      'default.replication.factor',
      'offsets.topic.replication.factor',
      'transaction.state.log.replication.factor',
      'transaction.state.log.min.isr',
    ])
      assert.equal(p[k], 1, k);
    const id = newClusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });

  test('Connect: distributed worker, internal topics with replication factor 1, REST on 127.0.0.1', () => {
    const p = connectWorkerProperties(['127.0.0.1:9092'], 8083, '/jars/plugins');
    for (const k of ['config.storage.replication.factor', 'offset.storage.replication.factor', 'status.storage.replication.factor'])
      assert.equal(p[k], 1, k);
    assert.equal(p.listeners, 'http://127.0.0.1:8083');
    assert.equal(p['plugin.path'], '/jars/plugins');
    assert.equal(p['group.id'], 'ulbridge-connect');
  });

  test('java -version parsing', () => {
    assert.equal(parseJavaMajor('openjdk version "17.0.15" 2025-04-15'), 17);
    assert.equal(parseJavaMajor('openjdk version "21" 2023-09-19'), 21);
    assert.equal(parseJavaMajor('java version "1.8.0_392"'), 8);
    assert.equal(parseJavaMajor('nonsense'), undefined);
  });

  test('command lines in error messages are shell-quoted', () => {
    assert.equal(formatCommand(['java', '-cp', '/a/b/*', 'x y', "it's"]), `java -cp '/a/b/*' 'x y' 'it'\\''s'`);
  });

  test('jar cache key: a hash of every pom, changing when one changes', () => {
    const d = mkdtempSync(join(tmpdir(), 'ulbridge-pom-'));
    try {
      writeFileSync(join(d, 'pom.xml'), '<a/>');
      mkdirSync(join(d, 'kafka'));
      writeFileSync(join(d, 'kafka', 'pom.xml'), '<b/>');
      const h1 = pomHash(d);
      assert.match(h1, /^[0-9a-f]{16}$/);
      assert.equal(pomHash(d), h1);
      writeFileSync(join(d, 'kafka', 'pom.xml'), '<c/>');
      assert.notEqual(pomHash(d), h1);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('ports and processes', () => {
  test('a fixed port in use is STACK_PORT_IN_USE; free ports are distinct', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const busy = (srv.address() as { port: number }).port;
    try {
      await assert.rejects(allocatePorts([{ name: 'kafka', port: busy }]), {
        code: 'STACK_PORT_IN_USE',
        message: new RegExp(`port ${busy}`),
      });
      const got = await allocatePorts([
        { name: 'a', port: undefined },
        { name: 'b', port: undefined },
        { name: 'c', port: undefined },
      ]);
      assert.equal(new Set(got.values()).size, 3);
    } finally {
      srv.close();
    }
  });

  test('spawned services run in their own process group and stopGroup ends them with their children', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ulbridge-proc-'));
    try {
      const p = await spawnLogged({
        name: 'sh',
        command: 'sh',
        args: ['-c', 'sleep 60 & setsid sleep 61 & echo started; wait'],
        logFile: join(dir, 'sh.log'),
      });
      let all: number[] = [];
      for (let i = 0; i < 50 && all.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
        all = serviceProcesses(p.pid);
      }
      assert.equal(all.length, 3, 'the shell, a child in its group and one in its own session');
      await stopGroup(p.pid, 'SIGTERM', 2000);
      for (const pid of all) assert.equal(isAlive(pid), false, `pid ${pid} stopped`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('container variant', () => {
  test('dockerAvailable is false when nothing answers, and startContainerStack says so without loading testcontainers', async () => {
    const { dockerAvailable, startContainerStack } = await import('../../src/stack/testcontainers.js');
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      assert.equal(await dockerAvailable(), false);
      await assert.rejects(startContainerStack(), { code: 'STACK_DOCKER_UNAVAILABLE' });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});
