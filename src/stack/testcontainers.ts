/**
 * The same four services in containers, for machines with a Docker engine. Optional: the native
 * launcher (startStack) is the default and the only one exercised by the test suite here.
 *
 * `testcontainers` (a dev dependency, major 11) is loaded with a dynamic import only after a Docker
 * engine answered, so Node without Docker never loads it. Images: postgres:15, mariadb:10.11,
 * apache/kafka:4.3.0, and a Connect image built from docker/Dockerfile.
 */
import { request } from 'node:http';
import { dirname } from 'node:path';
import { StackError } from './errors.js';
import { defaultPomDir } from './jars.js';
import { freePort } from './ports.js';
import type { ConnectInfo, MariaDbInfo, PostgresInfo } from './types.js';

/** True if a Docker engine answers GET /_ping ($DOCKER_HOST unix:// or tcp://, else /var/run/docker.sock). */
export function dockerAvailable(timeoutMs = 2000): Promise<boolean> {
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  let target: { socketPath: string } | { host: string; port: number };
  if (host.startsWith('unix://')) target = { socketPath: host.slice('unix://'.length) };
  else if (host.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: u.hostname, port: Number(u.port || 2375) };
  } else return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export interface ContainerStack {
  /** Addresses as seen from this process (mapped ports). */
  postgres: PostgresInfo;
  mariadb: MariaDbInfo;
  kafka: { brokers: string[] };
  connect: ConnectInfo;
  /**
   * Addresses as seen by Kafka Connect inside the container network: use these in a ConnectorSpec
   * (url and kafkaBrokers), not the mapped ones.
   */
  inNetwork: { postgresUrl: string; mariadbUrl: string; kafkaBrokers: string[] };
  stop(): Promise<void>;
}

const CONNECT_IMAGE = 'ulbridge/connect:debezium-3.6.1';

export async function startContainerStack(opts: { startupTimeoutMs?: number } = {}): Promise<ContainerStack> {
  if (!(await dockerAvailable())) {
    throw new StackError(
      'STACK_DOCKER_UNAVAILABLE',
      'no Docker engine answers (DOCKER_HOST or /var/run/docker.sock); use the native launcher (startStack / `ulbridge stack up`) instead',
    );
  }
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
  } catch (e) {
    throw new StackError(
      'STACK_DOCKER_UNAVAILABLE',
      'the testcontainers package is not installed: `npm i -D testcontainers@11`',
      {},
      { cause: e },
    );
  }
  const timeout = opts.startupTimeoutMs ?? 180_000;
  const started: Array<{ stop: () => Promise<unknown> }> = [];
  const network = await new tc.Network().start();
  try {
    const host = (await tc.getContainerRuntimeClient()).info.containerRuntime.host;

    const pg = await new tc.GenericContainer('postgres:15')
      .withNetwork(network)
      .withNetworkAliases('postgres')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withCommand(['postgres', '-c', 'wal_level=logical', '-c', 'max_replication_slots=20', '-c', 'max_wal_senders=20', '-c', 'fsync=off'])
      .withExposedPorts(5432)
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(timeout)
      .start();
    started.push(pg);

    const maria = await new tc.GenericContainer('mariadb:10.11')
      .withNetwork(network)
      .withNetworkAliases('mariadb')
      .withEnvironment({ MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1' })
      .withCommand([
        '--server-id=1',
        '--log-bin=mariadb-bin',
        '--binlog-format=ROW',
        '--binlog-row-image=FULL',
        '--character-set-server=utf8mb4',
        '--skip-name-resolve',
      ])
      .withExposedPorts(3306)
      .withHealthCheck({ test: ['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized'], interval: 1000, timeout: 3000, retries: 60 })
      .withWaitStrategy(tc.Wait.forHealthCheck())
      .withStartupTimeout(timeout)
      .start();
    started.push(maria);

    // The external listener must advertise the host port, so it is chosen up front.
    const kafkaPort = await freePort();
    const kafka = await new tc.GenericContainer('apache/kafka:4.3.0')
      .withNetwork(network)
      .withNetworkAliases('kafka')
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
        KAFKA_LISTENERS: 'INTERNAL://:29092,EXTERNAL://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `INTERNAL://kafka:29092,EXTERNAL://${host}:${kafkaPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
        KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m',
      })
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withWaitStrategy(tc.Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(timeout)
      .start();
    started.push(kafka);

    const dockerDir = dirname(defaultPomDir());
    const image = await tc.GenericContainer.fromDockerfile(dockerDir, 'Dockerfile').build(CONNECT_IMAGE, { deleteOnExit: false });
    const connect = await image
      .withNetwork(network)
      .withNetworkAliases('connect')
      .withExposedPorts(8083)
      .withWaitStrategy(tc.Wait.forHttp('/health', 8083).forStatusCode(200))
      .withStartupTimeout(timeout)
      .start();
    started.push(connect);

    const pgPort = pg.getMappedPort(5432);
    const mariaPort = maria.getMappedPort(3306);
    return {
      postgres: { url: `postgres://postgres@${host}:${pgPort}/postgres`, host, port: pgPort, user: 'postgres' },
      mariadb: { url: `mysql://root@${host}:${mariaPort}/`, host, port: mariaPort, user: 'root' },
      kafka: { brokers: [`${host}:${kafkaPort}`] },
      connect: { url: `http://${host}:${connect.getMappedPort(8083)}` },
      inNetwork: {
        postgresUrl: 'postgres://postgres@postgres:5432/postgres',
        mariadbUrl: 'mysql://root@mariadb:3306/',
        kafkaBrokers: ['kafka:29092'],
      },
      stop: async () => {
        for (const c of started.reverse()) await c.stop().catch(() => undefined);
        await network.stop().catch(() => undefined);
      },
    };
  } catch (e) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await network.stop().catch(() => undefined);
    throw e;
  }
}
