/**
 * The one derivation of a Debezium source connector's Kafka Connect configuration, used by
 * `ulbridge connect` (from the bridge config), the local stack (src/stack/connectors.ts), the demo
 * and the tests. Pure: no I/O.
 *
 * What every config contains: `tasks.max=1`, `snapshot.mode=initial`, `tombstones.on.delete=true`,
 * `poll.interval.ms=25`,
 * JsonConverter for key and value (schemas off by default for both).
 *  - PostgreSQL: PostgresConnector, `plugin.name=pgoutput`, one replication slot (`ulbridge_<name>`)
 *    and one publication (`ulbridge_pub_<name>`, filtered) per connector, and
 *    `replica.identity.autoset.values=<table>:FULL`.
 *  - MariaDB: MariaDbConnector; MySQL: MySqlConnector; a server id derived from the name, the
 *    database and table include lists, schema history in `ulbridge.schema-history.<prefix>`.
 */
import { createHash } from 'node:crypto';
import { UlbridgeError } from '../ops/errors.js';

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
  /**
   * What Connect gets as `database.password` instead of the URL's password: a Connect config
   * provider reference such as `${env:LEGACY_DB_PASSWORD}` (the worker resolves it).
   */
  passwordRef?: string;
  /** Table: `location` or `schema.location` (PostgreSQL, default schema public); MySQL/MariaDB take the database from the URL. */
  table: string;
  /** Kafka topic prefix (default: name). Change topic = `<prefix>.<schema|database>.<table>`. */
  topicPrefix?: string;
  /**
   * JsonConverter schemas, off by default for keys and values (docs/decisions.md, "Debezium values
   * without schemas"). A value with its Connect schema is ~5x the bytes; without it the ingest takes
   * a DATETIME integer in the unit Debezium's default `time.precision.mode` gives OpenSIPS's column
   * types (PostgreSQL `timestamp`: microseconds, MySQL `DATETIME`: milliseconds), which
   * `ulbridge connect apply` checks on the table first (./columnUnits.ts). With `value: true` the
   * decoder reads each value's unit from its schema (io.debezium.time.MicroTimestamp, Timestamp, ...).
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

/** A connector spec that cannot be turned into a config (the stack re-codes it as STACK_CONNECTOR_FAILED). */
export class ConnectorSpecError extends UlbridgeError {
  constructor(message: string) {
    super('CONNECTOR_SPEC_INVALID', message);
  }
}

export interface ParsedSourceUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseSourceUrl(url: string, defaultPort: number): ParsedSourceUrl {
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

/** PostgreSQL `schema.table` of a spec's table (default schema public). */
export function pgTable(table: string): { schema: string; table: string } {
  const [schema, t] = table.includes('.') ? table.split('.', 2) : ['public', table];
  return { schema: schema!, table: t! };
}

export function changeTopic(spec: ConnectorSpec): string {
  const prefix = spec.topicPrefix ?? spec.name;
  if (spec.kind === 'postgres') {
    const { schema, table } = pgTable(spec.table);
    return `${prefix}.${schema}.${table}`;
  }
  return `${prefix}.${parseSourceUrl(spec.url, 3306).database}.${spec.table}`;
}

/** Debezium notifications go here when a snapshot wait is requested. */
export function notificationTopic(spec: ConnectorSpec): string {
  return `ulbridge.debezium-notifications.${spec.topicPrefix ?? spec.name}`;
}

/** The PostgreSQL replication slot of a spec. */
export function slotName(spec: ConnectorSpec): string {
  return spec.slotName ?? pgIdent('ulbridge', spec.name);
}

/** The full Connect configuration for a spec (pure; unit-tested). */
export function connectorConfig(spec: ConnectorSpec, opts: { notifications?: boolean } = {}): Record<string, string> {
  if (!/^[A-Za-z0-9._-]+$/.test(spec.name)) {
    throw new ConnectorSpecError(`connector name ${JSON.stringify(spec.name)} may only use letters, digits, '.', '_' and '-'`);
  }
  const keySchemas = spec.schemas?.key ?? false;
  const valueSchemas = spec.schemas?.value ?? false;
  const common: Record<string, string> = {
    'tasks.max': '1',
    'topic.prefix': spec.topicPrefix ?? spec.name,
    'snapshot.mode': spec.snapshotMode ?? 'initial',
    'tombstones.on.delete': 'true',
    // Debezium waits this long for more changes before it hands a batch to Connect (default 500 ms):
    // most of a single change's way from the legacy commit to the registrar (docs/decisions.md).
    'poll.interval.ms': '25',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': String(keySchemas),
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': String(valueSchemas),
    ...(opts.notifications ? { 'notification.enabled.channels': 'sink', 'notification.sink.topic.name': notificationTopic(spec) } : {}),
  };
  let specific: Record<string, string>;
  if (spec.kind === 'postgres') {
    const db = parseSourceUrl(spec.url, 5432);
    const { schema, table } = pgTable(spec.table);
    const qualified = `${schema}.${table}`;
    specific = {
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'database.hostname': db.host,
      'database.port': String(db.port),
      'database.user': db.user,
      'database.password': spec.passwordRef ?? db.password,
      'database.dbname': db.database || 'postgres',
      'plugin.name': 'pgoutput',
      'slot.name': slotName(spec),
      'publication.name': spec.publicationName ?? pgIdent('ulbridge_pub', spec.name),
      'publication.autocreate.mode': 'filtered',
      'table.include.list': qualified,
      ...(spec.replicaIdentityFull === false ? {} : { 'replica.identity.autoset.values': `${qualified}:FULL` }),
    };
  } else {
    const db = parseSourceUrl(spec.url, 3306);
    if (!db.database)
      throw new ConnectorSpecError(`connector ${spec.name}: the ${spec.kind} URL must name the database (mysql://user@host:port/DB)`);
    if (!spec.kafkaBrokers?.length)
      throw new ConnectorSpecError(`connector ${spec.name}: ${spec.kind} needs kafkaBrokers for its schema history topic`);
    specific = {
      'connector.class':
        spec.kind === 'mariadb' ? 'io.debezium.connector.mariadb.MariaDbConnector' : 'io.debezium.connector.mysql.MySqlConnector',
      'database.hostname': db.host,
      'database.port': String(db.port),
      'database.user': db.user,
      'database.password': spec.passwordRef ?? db.password,
      'database.server.id': String(spec.serverId ?? defaultServerId(spec.name)),
      'database.include.list': db.database,
      'table.include.list': `${db.database}.${spec.table}`,
      'database.ssl.mode': spec.kind === 'mariadb' ? 'disable' : 'disabled',
      'schema.history.internal.kafka.bootstrap.servers': spec.kafkaBrokers.join(','),
      'schema.history.internal.kafka.topic': `ulbridge.schema-history.${spec.topicPrefix ?? spec.name}`,
      'include.schema.changes': 'false',
    };
  }
  const config = { ...specific, ...common, ...(spec.config ?? {}) };
  if (!hasValueSchemas(config)) refuseSchemalessOverrides(spec.name, config);
  return config;
}

/** Whether a derived config's values carry their Connect schema (an override in `config` included). */
export function hasValueSchemas(config: Record<string, string>): boolean {
  return config['value.converter.schemas.enable'] === 'true';
}

/**
 * Connector properties that change how a value is encoded in a way only its schema tells (the
 * unit of a timestamp, a decimal instead of an int64), with the values that keep the encoding the
 * schemaless decoder expects.
 */
const SCHEMALESS_SAFE: Readonly<Record<string, readonly string[]>> = {
  'time.precision.mode': ['adaptive', 'adaptive_time_microseconds'],
  'bigint.unsigned.handling.mode': ['long'],
};

function refuseSchemalessOverrides(name: string, config: Record<string, string>): void {
  for (const [key, safe] of Object.entries(SCHEMALESS_SAFE)) {
    const value = config[key];
    if (value !== undefined && !safe.includes(value)) {
      throw new ConnectorSpecError(
        `connector ${name}: ${key}=${value} changes an encoding that only the value schema states; turn value schemas on with it (capture.valueSchemas: true)`,
      );
    }
  }
}
