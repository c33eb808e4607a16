/**
 * Helpers for test files that need the shared stack that test/run.ts starts (`npm test`).
 * Each reads an env var and throws a clear error if it is missing, so a test run without the stack
 * says how to get one instead of timing out.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';

export const ENV = {
  pg: 'ULBRIDGE_TEST_PG_URL',
  mysql: 'ULBRIDGE_TEST_MYSQL_URL',
  kafka: 'ULBRIDGE_TEST_KAFKA_BROKERS',
  connect: 'ULBRIDGE_TEST_CONNECT_URL',
} as const;

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run via \`npm test\` (test/run.ts starts the stack and sets it), or export it yourself`);
  return v;
}

/** True when test/run.ts (or the caller) provided all four services. */
export function stackAvailable(): boolean {
  return Object.values(ENV).every((n) => !!process.env[n]);
}

/** Superuser URL of the test PostgreSQL (database `postgres`). */
export function postgresUrl(): string {
  return need(ENV.pg);
}

/** Root URL of the test MariaDB (no database). */
export function mariaDbUrl(): string {
  return need(ENV.mysql);
}

/**
 * kafka.sessionTimeoutSeconds of the e2e rigs whose bridges tests kill -9 and start again (harness,
 * cutover rig, faults): the restarted bridge gets its partitions once the broker has dropped the
 * dead one's members, after up to this long (30 s by default). The kill and restart are what those
 * tests exercise, not the wait; the rigs' other bridges run with it too.
 */
export const KILLED_BRIDGE_SESSION_TIMEOUT_SECONDS = 10;

export function kafkaBrokers(): string[] {
  return need(ENV.kafka)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function connectUrl(): string {
  return need(ENV.connect).replace(/\/+$/, '');
}

let counter = 0;
/** A unique lower-case database name: t_<pid>_<n>_<random>. */
export function uniqueDbName(prefix = 't'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}_${randomBytes(3).toString('hex')}`;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export interface FreshDb {
  /** URL of the new database. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates a uniquely named database on the test PostgreSQL. */
export async function freshPostgresDb(prefix = 't'): Promise<FreshDb> {
  const admin = postgresUrl();
  const name = uniqueDbName(prefix);
  await withPg(admin, (c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    url: withDatabase(admin, name),
    name,
    drop: () => withPg(admin, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** Creates a uniquely named database on the test MariaDB. */
export async function freshMariaDb(prefix = 't'): Promise<FreshDb> {
  const admin = mariaDbUrl();
  const name = uniqueDbName(prefix);
  await withMysql(admin, (c) => c.query(`CREATE DATABASE \`${name}\``));
  return {
    url: withDatabase(admin, name),
    name,
    drop: () => withMysql(admin, (c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``)).then(() => undefined),
  };
}

export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function withMysql<T>(url: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: true });
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export type DdlDialect = 'postgres' | 'mysql';
export type DdlRelease = '2.1' | '2.4';

/** Path of an OpenSIPS `location` DDL fixture: test/fixtures/ddl/<dialect>-<release>.sql. */
export function ddlPath(dialect: DdlDialect, release: DdlRelease): string {
  return fileURLToPath(new URL(`../fixtures/ddl/${dialect}-${release}.sql`, import.meta.url));
}

/** Runs a DDL fixture (version row + location table) in the database at `url`. */
export async function loadDdl(url: string, dialect: DdlDialect, release: DdlRelease): Promise<void> {
  const sql = readFileSync(ddlPath(dialect, release), 'utf8');
  if (dialect === 'postgres') await withPg(url, (c) => c.query(sql));
  else await withMysql(url, (c) => c.query(sql));
}
