/**
 * Debezium source connectors through the Kafka Connect REST API: one connector per source
 * `location` table, registered with PUT /connectors/<name>/config and awaited until the connector
 * and its task are RUNNING (and, on request, until the initial snapshot is done).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { StackError } from './errors.js';
import { sleep } from './process.js';

export type SourceKind = 'postgres' | 'mariadb' | 'mysql';

export interface ConnectorSpec {
  /** Connector name; also the default topic prefix. Letters, digits, '.', '_' and '-'. */
  name: string;
  /**
   * postgres: PostgresConnector (pgoutput). mariadb: MariaDbConnector (the one that works against
   * MariaDB 10.11). mysql: MySqlConnector (for MySQL servers).
   */
  kind: SourceKind;
  /** Source database URL as the Connect worker reaches it: postgres://u:p@h:port/db or mysql://u:p@h:port/db. */
  url: string;
  /** Table: `location` or `schema.location` (PostgreSQL, default schema public); MySQL/MariaDB take the database from the URL. */
  table: string;
  /** Kafka topic prefix (default: name). Change topic = `<prefix>.<schema|database>.<table>`. */
  topicPrefix?: string;
  /**
   * JsonConverter schemas: key off, value on by default. Keys stay small (`{"id":5}`); values carry
   * their Connect schema so a decoder can check the column types it relies on (e.g.
   * io.debezium.time.MicroTimestamp vs io.debezium.time.Timestamp for DATETIME columns).
   */
  schemas?: { key?: boolean; value?: boolean };
  /** Debezium snapshot.mode (default initial). */
  snapshotMode?: string;
  /** Brokers as the Connect worker reaches them: needed for MySQL/MariaDB schema history. */
  kafkaBrokers?: string[];
  /** MySQL/MariaDB replica server id (default: derived from the name, 100000-999999). */
  serverId?: number;
  /** PostgreSQL replication slot (default: derived from the name). */
  slotName?: string;
  /** PostgreSQL publication (default: derived from the name). */
  publicationName?: string;
  /**
   * PostgreSQL: let Debezium set REPLICA IDENTITY FULL on the table (default true) so update and
   * delete events carry the full `before` row, as MySQL/MariaDB do with binlog_row_image=FULL.
   */
  replicaIdentityFull?: boolean;
  /** Extra or overriding connector properties. */
  config?: Record<string, string>;
}

export interface RegisterOptions {
  /** Wait until the initial snapshot completed (needs kafkaBrokers reachable from here). Default false. */
  waitForSnapshot?: boolean;
  /** Default 120 s. */
  timeoutMs?: number;
  /** Brokers as reachable from this process for the snapshot wait (default: spec.kafkaBrokers). */
  kafkaBrokers?: string[];
}

export interface RegisteredConnector {
  name: string;
  /** The change-event topic of the table. */
  topic: string;
  config: Record<string, string>;
}

interface ParsedUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

function parseDbUrl(url: string, defaultPort: number): ParsedUrl {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : defaultPort,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
}

/** A PostgreSQL identifier derived from a connector name (slot and publication names). */
export function pgIdent(prefix: string, name: string): string {
  const base = `${prefix}_${name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (base.length <= 63) return base;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${base.slice(0, 54)}_${h}`;
}

export function defaultServerId(name: string): number {
  return 100_000 + (createHash('sha256').update(name).digest().readUInt32BE(0) % 900_000);
}

export function changeTopic(spec: ConnectorSpec): string {
  const prefix = spec.topicPrefix ?? spec.name;
  if (spec.kind === 'postgres') {
    const [schema, table] = spec.table.includes('.') ? spec.table.split('.', 2) : ['public', spec.table];
    return `${prefix}.${schema}.${table}`;
  }
  return `${prefix}.${parseDbUrl(spec.url, 3306).database}.${spec.table}`;
}

/** Debezium notifications go here when a snapshot wait is requested. */
export function notificationTopic(spec: ConnectorSpec): string {
  return `ulbridge.debezium-notifications.${spec.topicPrefix ?? spec.name}`;
}

/** The full Connect configuration for a spec (pure; unit-tested). */
export function connectorConfig(spec: ConnectorSpec, opts: { notifications?: boolean } = {}): Record<string, string> {
  if (!/^[A-Za-z0-9._-]+$/.test(spec.name)) {
    throw new StackError('STACK_CONNECTOR_FAILED', `connector name ${JSON.stringify(spec.name)} may only use letters, digits, '.', '_' and '-'`);
  }
  const keySchemas = spec.schemas?.key ?? false;
  const valueSchemas = spec.schemas?.value ?? true;
  const common: Record<string, string> = {
    'tasks.max': '1',
    'topic.prefix': spec.topicPrefix ?? spec.name,
    'snapshot.mode': spec.snapshotMode ?? 'initial',
    'tombstones.on.delete': 'true',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': String(keySchemas),
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': String(valueSchemas),
    ...(opts.notifications ? { 'notification.enabled.channels': 'sink', 'notification.sink.topic.name': notificationTopic(spec) } : {}),
  };
  let specific: Record<string, string>;
  if (spec.kind === 'postgres') {
    const db = parseDbUrl(spec.url, 5432);
    const table = spec.table.includes('.') ? spec.table : `public.${spec.table}`;
    specific = {
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'database.hostname': db.host,
      'database.port': String(db.port),
      'database.user': db.user,
      'database.password': db.password,
      'database.dbname': db.database || 'postgres',
      'plugin.name': 'pgoutput',
      'slot.name': spec.slotName ?? pgIdent('ulbridge', spec.name),
      'publication.name': spec.publicationName ?? pgIdent('ulbridge_pub', spec.name),
      'publication.autocreate.mode': 'filtered',
      'table.include.list': table,
      ...(spec.replicaIdentityFull === false ? {} : { 'replica.identity.autoset.values': `${table}:FULL` }),
    };
  } else {
    const db = parseDbUrl(spec.url, 3306);
    if (!db.database) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${spec.name}: the ${spec.kind} URL must name the database (mysql://user@host:port/DB)`);
    if (!spec.kafkaBrokers?.length) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${spec.name}: ${spec.kind} needs kafkaBrokers for its schema history topic`);
    specific = {
      'connector.class': spec.kind === 'mariadb' ? 'io.debezium.connector.mariadb.MariaDbConnector' : 'io.debezium.connector.mysql.MySqlConnector',
      'database.hostname': db.host,
      'database.port': String(db.port),
      'database.user': db.user,
      'database.password': db.password,
      'database.server.id': String(spec.serverId ?? defaultServerId(spec.name)),
      'database.include.list': db.database,
      'table.include.list': `${db.database}.${spec.table}`,
      'database.ssl.mode': spec.kind === 'mariadb' ? 'disable' : 'disabled',
      'schema.history.internal.kafka.bootstrap.servers': spec.kafkaBrokers.join(','),
      'schema.history.internal.kafka.topic': `ulbridge.schema-history.${spec.topicPrefix ?? spec.name}`,
      'include.schema.changes': 'false',
    };
  }
  return { ...specific, ...common, ...(spec.config ?? {}) };
}

async function rest(connectUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const r = await fetch(`${connectUrl}${path}`, {
    method,
    headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}

interface ConnectorStatus {
  connector: { state: string; trace?: string };
  tasks: Array<{ id: number; state: string; trace?: string }>;
}

function firstLines(trace: string | undefined, n = 8): string {
  return (trace ?? '').split('\n').slice(0, n).join('\n');
}

/** Creates (or reconfigures) the connector and waits until it and its task are RUNNING. */
async function setReplicaIdentityFull(spec: ConnectorSpec): Promise<void> {
  const client = new pg.Client({ connectionString: spec.url });
  try {
    await client.connect();
    const [schema, table] = spec.table.includes('.') ? spec.table.split('.', 2) : ['public', spec.table];
    await client.query(`ALTER TABLE "${schema!.replace(/"/g, '""')}"."${table!.replace(/"/g, '""')}" REPLICA IDENTITY FULL`);
  } catch (e) {
    throw new StackError('STACK_CONNECTOR_FAILED', `connector ${spec.name}: cannot set REPLICA IDENTITY FULL on ${spec.table}: ${(e as Error).message}`, {}, { cause: e });
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function registerConnector(connectUrl: string, spec: ConnectorSpec, opts: RegisterOptions = {}): Promise<RegisteredConnector> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const config = connectorConfig(spec, { notifications: opts.waitForSnapshot === true });
  const topic = changeTopic(spec);
  const brokers = opts.kafkaBrokers ?? spec.kafkaBrokers;
  if (opts.waitForSnapshot && !brokers?.length) {
    throw new StackError('STACK_CONNECTOR_FAILED', `connector ${spec.name}: waitForSnapshot needs kafkaBrokers`);
  }
  // REPLICA IDENTITY FULL before the connector exists: Debezium's autoset applies it only once the
  // connector has started, and a delete committed before that carries nothing but the key.
  if (spec.kind === 'postgres' && spec.replicaIdentityFull !== false) await setReplicaIdentityFull(spec);
  // Start listening for the snapshot notification before the connector can emit it.
  const snapshotDone = opts.waitForSnapshot ? await watchSnapshot(brokers!, notificationTopic(spec), spec.name, deadline) : undefined;
  try {
    for (;;) {
      const r = await rest(connectUrl, 'PUT', `/connectors/${encodeURIComponent(spec.name)}/config`, config);
      if (r.status === 200 || r.status === 201) break;
      // 409: the worker is rebalancing; retry.
      if (r.status !== 409 || Date.now() > deadline) {
        const why = await validationErrors(connectUrl, config);
        throw new StackError(
          'STACK_CONNECTOR_FAILED',
          `connector ${spec.name}: PUT ${connectUrl}/connectors/${spec.name}/config answered ${r.status}: ${r.text}${why ? `\nvalidation: ${why}` : ''}`,
        );
      }
      await sleep(500);
    }
    await waitRunning(connectUrl, spec.name, deadline);
    if (snapshotDone) await snapshotDone.done;
  } finally {
    await snapshotDone?.close();
  }
  return { name: spec.name, topic, config };
}

/** The error messages of Connect's config validation, '' if none or unavailable. */
async function validationErrors(connectUrl: string, config: Record<string, string>): Promise<string> {
  try {
    const cls = config['connector.class']!.split('.').pop()!;
    const r = await rest(connectUrl, 'PUT', `/connector-plugins/${cls}/config/validate`, config);
    const body = r.json as { configs?: Array<{ value?: { name: string; errors?: string[] } }> } | undefined;
    const errs = (body?.configs ?? []).flatMap((c) => (c.value?.errors ?? []).map((e) => `${c.value!.name}: ${e}`));
    return errs.join('; ');
  } catch {
    return '';
  }
}

async function waitRunning(connectUrl: string, name: string, deadline: number): Promise<void> {
  let last = 'no status yet';
  for (;;) {
    const r = await rest(connectUrl, 'GET', `/connectors/${encodeURIComponent(name)}/status`);
    if (r.status === 200) {
      const s = r.json as ConnectorStatus;
      last = `connector ${s.connector.state}, tasks ${s.tasks.map((t) => `${t.id}:${t.state}`).join(',') || 'none'}`;
      const failed = s.connector.state === 'FAILED' ? s.connector.trace : s.tasks.find((t) => t.state === 'FAILED')?.trace;
      if (s.connector.state === 'FAILED' || s.tasks.some((t) => t.state === 'FAILED')) {
        throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} failed (${last}); see the Connect log:\n${firstLines(failed)}`);
      }
      if (s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING')) return;
    }
    if (Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} not RUNNING in time (${last})`);
    await sleep(300);
  }
}

interface Watch {
  done: Promise<void>;
  close: () => Promise<void>;
}

/** Follows the Debezium notification topic until the initial snapshot reports COMPLETED (or SKIPPED). */
async function watchSnapshot(brokers: string[], topic: string, name: string, deadline: number): Promise<Watch> {
  const kafka = new Kafka({ clientId: 'ulbridge-snapshot-wait', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `ulbridge-snapshot-wait-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: true });
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  const timer = setTimeout(
    () => reject(new StackError('STACK_CONNECTOR_FAILED', `connector ${name}: initial snapshot not reported complete on ${topic} in time`)),
    Math.max(0, deadline - Date.now()),
  );
  // Create the topic first: subscribing to a missing one fails instead of auto-creating it.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      let n: unknown;
      try {
        n = JSON.parse(message.value.toString('utf8'));
      } catch {
        return;
      }
      const payload = (n && typeof n === 'object' && 'payload' in n ? (n as { payload: unknown }).payload : n) as Record<string, unknown> | null;
      if (!payload || payload.aggregate_type !== 'Initial Snapshot') return;
      if (payload.type === 'COMPLETED' || payload.type === 'SKIPPED') resolve();
      else if (payload.type === 'ABORTED') reject(new StackError('STACK_CONNECTOR_FAILED', `connector ${name}: initial snapshot ABORTED; see the Connect log`));
    },
  });
  return {
    done,
    close: async () => {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

export interface DeleteOptions {
  timeoutMs?: number;
  /**
   * PostgreSQL only: also drop the connector's replication slot and publication (a leftover slot
   * keeps WAL forever and blocks DROP DATABASE). Pass the spec the connector was registered with.
   */
  cleanup?: ConnectorSpec;
}

/** Deletes a connector (absent is fine) and waits until Connect no longer lists it. */
export async function deleteConnector(connectUrl: string, name: string, opts: DeleteOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const r = await rest(connectUrl, 'DELETE', `/connectors/${encodeURIComponent(name)}`);
    if (r.status === 204 || r.status === 200 || r.status === 404) break;
    if (r.status !== 409 || Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `DELETE connector ${name} answered ${r.status}: ${r.text}`);
    await sleep(500);
  }
  for (;;) {
    const r = await rest(connectUrl, 'GET', `/connectors/${encodeURIComponent(name)}`);
    if (r.status === 404) break;
    if (Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} still listed after DELETE`);
    await sleep(300);
  }
  if (opts.cleanup?.kind === 'postgres') await dropPostgresSlot(opts.cleanup, deadline);
}

async function dropPostgresSlot(spec: ConnectorSpec, deadline: number): Promise<void> {
  const cfg = connectorConfig(spec);
  const slot = cfg['slot.name']!;
  const publication = cfg['publication.name']!;
  const client = new pg.Client({ connectionString: spec.url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (;;) {
      const r = await client.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      const row = r.rows[0];
      if (!row) break;
      if (row.active_pid !== null) {
        await client.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
        await sleep(200);
        continue;
      }
      try {
        await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `cannot drop replication slot ${slot}: ${(e as Error).message}`, {}, { cause: e });
        await sleep(200);
      }
    }
    await client.query(`DROP PUBLICATION IF EXISTS "${publication.replace(/"/g, '""')}"`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
