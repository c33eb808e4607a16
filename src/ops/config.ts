import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RELEASE_NAMES } from '../opensips/releases.js';
import { MAX_HASH_SIZE } from '../opensips/hashSize.js';
import { parseDbUrl } from '../db/url.js';
import { UlbridgeError } from './errors.js';
import { changeTopic, type SourceKind } from '../connect/derive.js';
import { DEFAULT_SESSION_TIMEOUT_SECONDS } from './stageConsumer.js';

/**
 * `ulbridge run` configuration: a JSON file, `${VAR}` references expanded from the environment,
 * then a few ULBRIDGE_* variables override keys (see docs/configuration.md). Compiled once, at
 * start: validated (every error names the key; a missing key is reported as missing), and every
 * derived value (consumer group ids, state schemas) filled in, so nothing downstream computes a
 * default of its own. Two stages that would share a consumer group, or two targets that would
 * share a state schema, are refused: they would silently skip each other's work.
 */

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as UTC or Europe/Berlin');

/**
 * The one rule for the names of sources, targets and reverse syncs (and references to them); 48
 * characters keep the derived state schema (`ulbridge_<name>`) within identifier limits.
 */
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,48}$/, 'must be 1-48 letters, digits, _ . or -');
const release = z.enum(RELEASE_NAMES);
/** A PostgreSQL schema or a MySQL/MariaDB database: this form is a plain identifier in both. */
const STATE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

const dbUrl = z.string().regex(/^(postgres(ql)?|mysql|mariadb):\/\//, 'must be a postgres://, postgresql://, mysql:// or mariadb:// URL');

/**
 * What Kafka Connect gets as `database.password`: a config provider reference the worker resolves
 * (`config.providers` in its properties), never a literal password.
 */
const providerRef = z
  .string()
  .regex(
    /^\$\{(env|file|dir):[^}]+\}$/,
    'must be a Kafka Connect config provider reference such as ${env:LEGACY_DB_PASSWORD} or ${file:/etc/kafka/secrets.properties:legacy.password}',
  );

/** The Debezium connector that captures a table (`ulbridge connect`, and the capture stage of `status`). */
const captureFields = {
  /** URL of the captured database as both Kafka Connect and ulbridge reach it. */
  db: dbUrl,
  password: providerRef.optional(),
  /** Connector kind; default from the URL scheme (postgres, mysql, mariadb). */
  kind: z.enum(['postgres', 'mariadb', 'mysql']).optional(),
  table: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,63}(\.[A-Za-z0-9_]{1,63})?$/, 'must be a table name, optionally schema.table (PostgreSQL)')
    .optional(),
  connector: name.optional(),
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,200}$/, 'must be letters, digits, _ . or -')
    .optional(),
  snapshotMode: z.string().min(1).default('initial'),
  serverId: z.number().int().min(1).max(4294967295).optional(),
  slotName: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'must be a lower-case PostgreSQL identifier (a-z, 0-9, _)')
    .optional(),
  publicationName: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'must be a lower-case PostgreSQL identifier (a-z, 0-9, _)')
    .optional(),
  /** Debezium heartbeat.interval.ms: lets a MySQL/MariaDB connector's offset follow the binlog while its table is idle (0: off). */
  heartbeatMs: z.number().int().min(0).max(3_600_000).default(5000),
  /** READY allows the connector to be at most this many bytes of WAL or binlog behind the database. */
  maxLagBytes: z.number().int().min(0).default(0),
  /** Debezium values with their Connect schema (~5x the bytes); off: units checked on the table by `connect apply`. */
  valueSchemas: z.boolean().default(false),
  config: z.record(z.string(), z.string()).optional(),
};
export const sourceCaptureSchema = z.strictObject(captureFields);
export const reverseCaptureSchema = z.strictObject({ ...captureFields, db: dbUrl.optional() });

export const sourceSchema = z.strictObject({
  name,
  release,
  /** Required unless `capture` derives it. */
  topic: z.string().min(1).optional(),
  capture: sourceCaptureSchema.optional(),
  timeZone: timeZone.default('UTC'),
  caseSensitive: z.boolean().default(false),
  groupId: z.string().min(1).optional(),
});

const binUrl = z.string().regex(/^bin:[^\s:]+:\d{1,5}$/, 'must be bin:HOST:PORT');
const nodeId = z.number().int().min(1).max(65535);

/**
 * The registrars that serve a target, as a usrloc cluster that ulbridge joins as one more node
 * (docs/cluster-push.md): every change the projection commits is pushed to them.
 */
export const clusterSchema = z.strictObject({
  clusterId: nodeId,
  /** ulbridge's own node id in that cluster. */
  nodeId,
  /** The bin socket ulbridge listens on (the registrars' neighbor_node_info url for it). */
  listen: binUrl,
  /** The registrars' OpenSIPS release: picks the usrloc packet version (3.4/3.5: 3, 3.6/4.0: 5). */
  opensips: z.enum(['3.4', '3.5', '3.6', '4.0']),
  nodes: z.array(z.strictObject({ nodeId, url: binUrl })).min(1),
  /** The usrloc domain the registrars save() into; default the target table's name. */
  domain: z.string().min(1).optional(),
  /** 3.4/3.5 only (their packets carry branch flags as a bitmask): the branch flag names, bit 0 first. */
  branchFlags: z.array(z.string().min(1)).max(32).optional(),
  pingIntervalMs: z.number().int().min(100).max(60_000).default(1000),
  /** A registrar not heard from for this long is down (it gets a replay when it comes back). */
  downAfterMs: z.number().int().min(500).max(600_000).default(3000),
});

export const targetSchema = z.strictObject({
  name,
  db: z.string().regex(/^(postgres(ql)?|mysql|mariadb):\/\//, 'must be a postgres://, postgresql://, mysql:// or mariadb:// URL'),
  table: z.string().min(1).default('location'),
  release: release.refine((r) => r !== '2.1', 'must be a release with contact_id: 2.2, 2.3, 2.4, 3.x or 4.0'),
  hashSize: z.number().int().min(0).max(MAX_HASH_SIZE).default(9),
  useDomain: z.boolean().default(false),
  unsignedChar: z.boolean().default(false),
  timeZone: timeZone.default('UTC'),
  // A PostgreSQL schema or a MySQL/MariaDB database: this form is a plain identifier in both.
  stateSchema: z
    .string()
    .regex(STATE_SCHEMA, 'must be a lower-case identifier (a-z, 0-9, _, not starting with a digit, at most 63 characters)')
    .optional(),
  groupId: z.string().min(1).optional(),
  poolSize: z.number().int().min(1).max(64).default(4),
  cluster: clusterSchema.optional(),
});

export const reverseSchema = z.strictObject({
  name,
  /** The targets[] entry whose table the new registrar writes. */
  target: name,
  /** Debezium topic of that target table; required unless `capture` derives it. */
  topic: z.string().min(1).optional(),
  /** The Debezium connector on the target table (PostgreSQL, MySQL or MariaDB by its URL); `db` defaults to the target's. */
  capture: reverseCaptureSchema.optional(),
  /** The sources[] entry whose Debezium topic captures the legacy table written here. */
  source: name,
  legacy: z.strictObject({
    db: z.string().regex(/^(postgres(ql)?|mysql|mariadb):\/\//, 'must be a postgres://, mysql:// or mariadb:// URL'),
    table: z.string().min(1).default('location'),
    /** The legacy registrar, like a target's keys; release and timeZone default to the source's. */
    release: release.optional(),
    /** Required for a 2.2+ legacy table (the contact ids written back are allocated for it). */
    hashSize: z.number().int().min(0).max(MAX_HASH_SIZE).optional(),
    useDomain: z.boolean().default(false),
    unsignedChar: z.boolean().default(false),
    timeZone: timeZone.optional(),
  }),
  groupId: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  kafka: z.strictObject({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port')).min(1),
    clientId: z.string().default('ulbridge'),
    /** How long start-up waits for a broker to answer before failing with KAFKA_UNREACHABLE. */
    connectTimeoutSeconds: z.number().min(1).max(600).default(30),
    /**
     * Kafka group session timeout of every stage's consumer: how long a crashed ulbridge (kill -9,
     * host down) keeps its partitions before a restarted one gets them. 6 is the broker's default
     * group.min.session.timeout.ms.
     */
    sessionTimeoutSeconds: z.number().int().min(6).max(300).default(DEFAULT_SESSION_TIMEOUT_SECONDS),
  }),
  log: z
    .strictObject({
      topic: z.string().min(1).default('ulbridge.registrations'),
      partitions: z.number().int().min(1).max(1024).default(6),
      deadLetterTopic: z.string().min(1).default('ulbridge.dead-letters'),
    })
    .prefault({}),
  sources: z.array(sourceSchema).default([]),
  targets: z.array(targetSchema).default([]),
  reverse: z.array(reverseSchema).default([]),
  /** Kafka Connect, for `ulbridge connect` and the capture stage of `status`. */
  connect: z
    .strictObject({
      url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL'),
      /** Brokers as the Connect worker reaches them (MySQL/MariaDB schema history); default kafka.brokers. */
      kafkaBrokers: z
        .array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port'))
        .min(1)
        .optional(),
    })
    .optional(),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .prefault({}),
});

type ParsedConfig = z.infer<typeof configSchema>;

/**
 * A compiled capture: every default filled in. `db` is what ulbridge connects with (it may hold a
 * password); Connect gets the same URL without it and `password` (a provider reference) instead.
 */
export interface CaptureConfig extends Omit<z.infer<typeof sourceCaptureSchema>, 'kind' | 'table' | 'connector' | 'topicPrefix'> {
  kind: SourceKind;
  table: string;
  connector: string;
  topicPrefix: string;
}

/** A sources[] entry with its derived values. */
export type SourceConfig = Omit<z.infer<typeof sourceSchema>, 'topic' | 'capture'> & {
  groupId: string;
  topic: string;
  capture?: CaptureConfig;
};
/** A targets[] entry's registrar cluster (docs/cluster-push.md). */
export type ClusterConfig = z.infer<typeof clusterSchema>;
/** A targets[] entry with its derived values. */
export type TargetConfig = z.infer<typeof targetSchema> & { groupId: string; stateSchema: string };
/** The legacy table of a reverse[] entry, compiled: release and time zone filled in from its source. */
export interface ReverseLegacyConfig {
  db: string;
  table: string;
  release: (typeof RELEASE_NAMES)[number];
  /** Present for 2.2+ legacy tables (required there), absent for 2.1. */
  hashSize?: number;
  useDomain: boolean;
  unsignedChar: boolean;
  timeZone: string;
}
/** A reverse[] entry with its derived values. */
export type ReverseConfig = Omit<z.infer<typeof reverseSchema>, 'topic' | 'capture' | 'legacy'> & {
  groupId: string;
  topic: string;
  capture?: CaptureConfig;
  legacy: ReverseLegacyConfig;
};

/**
 * The compiled configuration: validated, with every derived value filled in. It is still a valid
 * config document (derived values are written under their own keys), so it can be written back.
 */
export interface Config extends Omit<ParsedConfig, 'sources' | 'targets' | 'reverse'> {
  sources: SourceConfig[];
  targets: TargetConfig[];
  reverse: ReverseConfig[];
}

/** The char signedness a target's registrar hashes AORs with. */
export function signednessOf(t: TargetConfig): 'signed' | 'unsigned' {
  return t.unsignedChar ? 'unsigned' : 'signed';
}

/** A target whose table the new registrar writes too (a reverse sync reads it back). */
export function isSharedTarget(cfg: Config, t: TargetConfig): boolean {
  return cfg.reverse.some((r) => r.target === t.name);
}

/** ulbridge's state schema (PostgreSQL) or database (MySQL/MariaDB) of a target without `stateSchema`. */
export function defaultStateSchema(targetName: string): string {
  return `ulbridge_${targetName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}

function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, v: string) => {
      const got = env[v];
      if (got === undefined) throw new UlbridgeError('CONFIG_INVALID', `config ${path || '(root)'}: environment variable ${v} is not set`);
      return got;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}

function applyOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (env.ULBRIDGE_KAFKA_BROKERS)
    raw.kafka = { ...(raw.kafka as object | undefined), brokers: env.ULBRIDGE_KAFKA_BROKERS.split(',').map((b) => b.trim()) };
  if (env.ULBRIDGE_CONNECT_URL) raw.connect = { ...(raw.connect as object | undefined), url: env.ULBRIDGE_CONNECT_URL };
  if (env.ULBRIDGE_HTTP_PORT) raw.http = { ...(raw.http as object | undefined), port: Number(env.ULBRIDGE_HTTP_PORT) };
}

function keyPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(root)';
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const expanded = expandEnv(raw, env, '') as Record<string, unknown> | null;
  if (!expanded || typeof expanded !== 'object' || Array.isArray(expanded)) {
    throw new UlbridgeError('CONFIG_INVALID', 'config must be a JSON object');
  }
  applyOverrides(expanded, env);
  const parsed = configSchema.safeParse(expanded, {
    // A key that is absent is reported as missing, not as a wrong value.
    error: (iss) => (iss.input === undefined && (iss.code === 'invalid_type' || iss.code === 'invalid_value') ? 'is missing' : undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UlbridgeError('CONFIG_INVALID', `config ${keyPath(issue.path)}: ${issue.message}`);
  }
  const cfg = compile(parsed.data);
  checkCaptures(cfg);
  const dup = (names: string[]): string | undefined => names.find((n, i) => names.indexOf(n) !== i);
  const d1 = dup(cfg.sources.map((s) => s.name));
  if (d1) throw new UlbridgeError('CONFIG_INVALID', `config sources: the name "${d1}" is used twice`);
  const d2 = dup(cfg.targets.map((t) => t.name));
  if (d2) throw new UlbridgeError('CONFIG_INVALID', `config targets: the name "${d2}" is used twice`);
  const d3 = dup(cfg.reverse.map((r) => r.name));
  if (d3) throw new UlbridgeError('CONFIG_INVALID', `config reverse: the name "${d3}" is used twice`);
  cfg.reverse.forEach((r, i) => {
    const target = cfg.targets.find((t) => t.name === r.target);
    if (!target) throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].target: no targets[] entry is named "${r.target}"`);
    if (cfg.reverse.findIndex((o) => o.target === r.target) !== i) {
      throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].target: target "${r.target}" already has a reverse sync`);
    }
    const where = legacyTableKey(r.legacy);
    const other = cfg.reverse.findIndex((o) => legacyTableKey(o.legacy) === where);
    if (other !== i) {
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config reverse[${i}].legacy: reverse[${other}] writes the same legacy table; two reverse syncs would hand out the same record labels in it`,
      );
    }
  });
  if (cfg.sources.length === 0 && cfg.targets.length === 0) {
    throw new UlbridgeError('CONFIG_INVALID', 'config: nothing to run; add at least one entry to sources (ingest) or targets (projection)');
  }
  cfg.targets.forEach((t, i) => {
    if (t.cluster) checkCluster(t, t.cluster, `targets[${i}].cluster`);
  });
  refuseSharedGroups(cfg);
  refuseSharedStateSchemas(cfg);
  return cfg;
}

/** A registrar cluster must run the target's release line and have distinct node ids. */
function checkCluster(t: TargetConfig, c: z.infer<typeof clusterSchema>, key: string): void {
  const line = c.opensips === '4.0' ? '4.0' : '3.x';
  if (t.release !== line) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `config ${key}.opensips: registrars of OpenSIPS ${c.opensips} read a ${line} table, but the target's release is ${t.release}; usrloc cluster replication exists from OpenSIPS 3.4 on`,
    );
  }
  const ids = [c.nodeId, ...c.nodes.map((n) => n.nodeId)];
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `config ${key}: node id ${twice} is used twice (ulbridge's nodeId and every nodes[].nodeId must differ)`,
    );
  }
  if (c.branchFlags && (c.opensips === '3.6' || c.opensips === '4.0')) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `config ${key}.branchFlags: OpenSIPS ${c.opensips} replicates branch flags by name; drop branchFlags`,
    );
  }
}

function schemeKind(url: string): SourceKind {
  return /^postgres(ql)?:/.test(url) ? 'postgres' : url.startsWith('mariadb:') ? 'mariadb' : 'mysql';
}

/** Fills in a capture's defaults; `db` as ulbridge reaches the database. */
function compileCapture(c: z.infer<typeof sourceCaptureSchema>, defaultConnector: string, defaultTable: string): CaptureConfig {
  const kind = c.kind ?? schemeKind(c.db);
  const connector = c.connector ?? defaultConnector;
  return { ...c, kind, table: c.table ?? defaultTable, connector, topicPrefix: c.topicPrefix ?? connector };
}

/** The change topic a compiled capture produces (`<prefix>.<schema|database>.<table>`). */
export function captureTopic(c: CaptureConfig): string {
  return changeTopic({ name: c.connector, kind: c.kind, url: c.db, table: c.table, topicPrefix: c.topicPrefix });
}

function compileTopic(key: string, given: string | undefined, capture: CaptureConfig | undefined): string {
  if (!capture) {
    if (given === undefined) throw new UlbridgeError('CONFIG_INVALID', `config ${key}.topic: is missing`);
    return given;
  }
  let derived: string;
  try {
    derived = captureTopic(capture);
  } catch (e) {
    throw new UlbridgeError('CONFIG_INVALID', `config ${key}.capture.db: ${(e as Error).message}`);
  }
  if (given !== undefined && given !== derived) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `config ${key}.topic: "${given}" is not the topic of ${key}.capture ("${derived}"); drop topic or make them agree`,
    );
  }
  return derived;
}

function compile(parsed: ParsedConfig): Config {
  return {
    ...parsed,
    sources: parsed.sources.map((s, i) => {
      const { capture: raw, topic, ...rest } = s;
      const capture = raw ? compileCapture(raw, `ulbridge-${s.name}`, 'location') : undefined;
      return {
        ...rest,
        topic: compileTopic(`sources[${i}]`, topic, capture),
        ...(capture ? { capture } : {}),
        groupId: s.groupId ?? `ulbridge-ingest-${s.name}`,
      };
    }),
    targets: parsed.targets.map((t) => ({
      ...t,
      groupId: t.groupId ?? `ulbridge-project-${t.name}`,
      stateSchema: t.stateSchema ?? defaultStateSchema(t.name),
    })),
    reverse: parsed.reverse.map((r, i) => {
      const { capture: raw, topic, ...rest } = r;
      let capture: CaptureConfig | undefined;
      if (raw) {
        const target = parsed.targets.find((t) => t.name === r.target);
        const db = raw.db ?? target?.db;
        if (db === undefined)
          throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].target: no targets[] entry is named "${r.target}"`);
        capture = compileCapture({ ...raw, db }, `ulbridge-reverse-${r.name}`, raw.db ? 'location' : (target?.table ?? 'location'));
      }
      return {
        ...rest,
        legacy: compileLegacy(i, r, parsed.sources),
        topic: compileTopic(`reverse[${i}]`, topic, capture),
        ...(capture ? { capture } : {}),
        groupId: r.groupId ?? `ulbridge-reverse-${r.name}`,
      };
    }),
  };
}

/**
 * A reverse[] entry's legacy table: the legacy registrar's release and time zone are the source's
 * (the source captures this very table; stating other values is refused), and a 2.2+ table needs
 * the registrar's hash_size, use_domain and char signedness, like a target's, because the contact
 * ids written back are allocated for it.
 */
function compileLegacy(
  i: number,
  r: z.infer<typeof reverseSchema>,
  sources: ReadonlyArray<z.infer<typeof sourceSchema>>,
): ReverseLegacyConfig {
  const key = `config reverse[${i}]`;
  const source = sources.find((s) => s.name === r.source);
  if (!source) throw new UlbridgeError('CONFIG_INVALID', `${key}.source: no sources[] entry is named "${r.source}"`);
  const { hashSize, ...legacy } = r.legacy;
  const release = legacy.release ?? source.release;
  if (release !== source.release) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `${key}.legacy.release: is ${release} but source "${source.name}", which captures this table, is release ${source.release}; they must agree`,
    );
  }
  const timeZone = legacy.timeZone ?? source.timeZone;
  if (timeZone !== source.timeZone) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `${key}.legacy.timeZone: is ${timeZone} but source "${source.name}", which captures this table, has timeZone ${source.timeZone}; they must agree`,
    );
  }
  if (release === '2.1') {
    if (hashSize !== undefined) {
      throw new UlbridgeError('CONFIG_INVALID', `${key}.legacy.hashSize: a 2.1 legacy table has no contact ids; drop hashSize`);
    }
    return { ...legacy, release, timeZone };
  }
  if (hashSize === undefined) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `${key}.legacy.hashSize: is missing: the legacy table is release ${release}; give its registrar's usrloc hash_size (contact ids written back are allocated for it)`,
    );
  }
  return { ...legacy, release, hashSize, timeZone };
}

/** Where a legacy table is: server, database and table (two reverse syncs must not write one). */
function legacyTableKey(l: ReverseLegacyConfig): string {
  try {
    const db = parseDbUrl(l.db);
    const table = l.table.includes('.') || db.dialect !== 'postgres' ? l.table : `public.${l.table}`;
    return `${db.dialect} ${db.host}:${db.port}/${db.database}/${table}`;
  } catch {
    return `${l.db} ${l.table}`;
  }
}

/**
 * Captures: Connect never gets a literal password (a URL password needs `password`, a provider
 * reference, for Connect); connector names and topic prefixes are unique.
 */
function checkCaptures(cfg: Config): void {
  const seen = new Map<string, string>();
  const prefixes = new Map<string, string>();
  const all = [
    ...cfg.sources.map((s, i) => ({ key: `sources[${i}].capture`, c: s.capture })),
    ...cfg.reverse.map((r, i) => ({ key: `reverse[${i}].capture`, c: r.capture })),
  ];
  for (const { key, c } of all) {
    if (!c) continue;
    let password: string;
    try {
      password = decodeURIComponent(new URL(c.db).password);
    } catch {
      throw new UlbridgeError('CONFIG_INVALID', `config ${key}.db: is not a URL`);
    }
    if (password && c.password === undefined) {
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config ${key}.password: is missing: the database URL carries a password, which Kafka Connect would store and show; give Connect a config provider reference such as \${env:LEGACY_DB_PASSWORD}`,
      );
    }
    if (c.kind !== 'postgres' && (c.slotName || c.publicationName)) {
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config ${key}.${c.slotName ? 'slotName' : 'publicationName'}: only PostgreSQL connectors have one`,
      );
    }
    if (c.kind !== 'postgres' && c.table.includes('.')) {
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config ${key}.table: MySQL/MariaDB take the database from the URL; give the table name only`,
      );
    }
    const other = seen.get(c.connector);
    if (other) throw new UlbridgeError('CONFIG_INVALID', `config ${key}.connector: the connector name "${c.connector}" is also ${other}'s`);
    seen.set(c.connector, key);
    const otherPrefix = prefixes.get(c.topicPrefix);
    if (otherPrefix)
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config ${key}.topicPrefix: "${c.topicPrefix}" is also ${otherPrefix}'s (their topics would mix)`,
      );
    prefixes.set(c.topicPrefix, key);
  }
}

/** Two stages in one consumer group would split its partitions between them: each would skip the other's share. */
function refuseSharedGroups(cfg: Config): void {
  const seen = new Map<string, string>();
  const stages = [
    ...cfg.sources.map((s, i) => ({ key: `sources[${i}].groupId`, groupId: s.groupId })),
    ...cfg.targets.map((t, i) => ({ key: `targets[${i}].groupId`, groupId: t.groupId })),
    ...cfg.reverse.map((r, i) => ({ key: `reverse[${i}].groupId`, groupId: r.groupId })),
  ];
  for (const { key, groupId } of stages) {
    const other = seen.get(groupId);
    if (other)
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config ${key}: consumer group "${groupId}" is also ${other}'s; each stage needs its own group (set a distinct groupId)`,
      );
    seen.set(groupId, key);
  }
}

/**
 * Two targets whose state lives in the same place would share offsets and bindings and skip each
 * other's events. PostgreSQL: same server, database and schema; MySQL/MariaDB: same server and
 * state database (databases are server-wide there).
 */
function refuseSharedStateSchemas(cfg: Config): void {
  const seen = new Map<string, number>();
  cfg.targets.forEach((t, i) => {
    let where: string;
    try {
      const db = parseDbUrl(t.db);
      where =
        db.dialect === 'postgres'
          ? `postgres ${db.host}:${db.port}/${db.database}/${t.stateSchema}`
          : `mysql ${db.host}:${db.port}/${t.stateSchema}`;
    } catch (e) {
      throw new UlbridgeError('CONFIG_INVALID', `config targets[${i}].db: ${(e as Error).message.replace(/^--db /, '')}`);
    }
    const other = seen.get(where);
    if (other !== undefined) {
      throw new UlbridgeError(
        'CONFIG_INVALID',
        `config targets[${i}]: targets "${cfg.targets[other]!.name}" and "${t.name}" would keep their state in the same schema "${t.stateSchema}" of one database and skip each other's events; give one of them its own targets[].stateSchema`,
      );
    }
    seen.set(where, i);
  });
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UlbridgeError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UlbridgeError('CONFIG_INVALID', `config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(raw, env);
}
