import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RELEASE_NAMES } from '../opensips/releases.js';
import { MAX_HASH_SIZE } from '../opensips/hashSize.js';
import { UlbridgeError } from './errors.js';

/**
 * `ulbridge run` configuration: a JSON file, `${VAR}` references expanded from the environment,
 * then a few ULBRIDGE_* variables override keys (see docs/configuration.md). Validated once, at
 * start; every error names the key.
 */

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as UTC or Europe/Berlin');

const name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');
const release = z.enum(RELEASE_NAMES as unknown as [string, ...string[]]);

export const sourceSchema = z.strictObject({
  name,
  release,
  topic: z.string().min(1),
  timeZone: timeZone.default('UTC'),
  caseSensitive: z.boolean().default(false),
  groupId: z.string().min(1).optional(),
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
  stateSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case identifier (a-z, 0-9, _, not starting with a digit, at most 63 characters)').optional(),
  groupId: z.string().min(1).optional(),
  poolSize: z.number().int().min(1).max(64).default(4),
});

export const reverseSchema = z.strictObject({
  name,
  /** The targets[] entry whose table the new registrar writes. */
  target: name,
  /** Debezium topic of that target table. */
  topic: z.string().min(1),
  /** The sources[] entry whose Debezium topic captures the legacy table written here. */
  source: name,
  legacy: z.strictObject({
    db: z.string().regex(/^(postgres(ql)?|mysql|mariadb):\/\//, 'must be a postgres://, mysql:// or mariadb:// URL'),
    table: z.string().min(1).default('location'),
  }),
  groupId: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  kafka: z.strictObject({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port')).min(1),
    clientId: z.string().default('ulbridge'),
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
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;

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

function applyOverrides(raw: Record<string, any>, env: NodeJS.ProcessEnv): void {
  if (env.ULBRIDGE_KAFKA_BROKERS) raw.kafka = { ...(raw.kafka ?? {}), brokers: env.ULBRIDGE_KAFKA_BROKERS.split(',').map((b) => b.trim()) };
  if (env.ULBRIDGE_HTTP_PORT) raw.http = { ...(raw.http ?? {}), port: Number(env.ULBRIDGE_HTTP_PORT) };
}

function keyPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(root)';
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const expanded = expandEnv(raw, env, '') as Record<string, any>;
  if (!expanded || typeof expanded !== 'object' || Array.isArray(expanded)) {
    throw new UlbridgeError('CONFIG_INVALID', 'config must be a JSON object');
  }
  applyOverrides(expanded, env);
  const parsed = configSchema.safeParse(expanded);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UlbridgeError('CONFIG_INVALID', `config ${keyPath(issue.path)}: ${issue.message}`);
  }
  const cfg = parsed.data;
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
    if (!/^postgres(ql)?:\/\//.test(target.db)) {
      throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].target: target "${r.target}" is not PostgreSQL; reverse sync reads PostgreSQL targets only (it tells its own writes by transaction id)`);
    }
    const source = cfg.sources.find((s) => s.name === r.source);
    if (!source) throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].source: no sources[] entry is named "${r.source}"`);
    if (source.release !== '2.1') {
      throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].source: source "${r.source}" is release ${source.release}; reverse sync writes 2.1 legacy tables (id key) only`);
    }
    if (cfg.reverse.findIndex((o) => o.target === r.target) !== i) {
      throw new UlbridgeError('CONFIG_INVALID', `config reverse[${i}].target: target "${r.target}" already has a reverse sync`);
    }
  });
  if (cfg.sources.length === 0 && cfg.targets.length === 0) {
    throw new UlbridgeError('CONFIG_INVALID', 'config: nothing to run; add at least one entry to sources (ingest) or targets (projection)');
  }
  return cfg;
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
