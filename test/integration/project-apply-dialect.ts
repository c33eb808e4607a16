/**
 * The two databases the applier (src/project/apply.ts) writes, behind one small test interface, so
 * the contract suites (project-apply-suite.ts, project-shared-suite.ts) run the same cases, with
 * the same expected rows, against PostgreSQL and MariaDB. Only what must differ lives here: how to
 * connect, how to open a session, how the state tables are named, how values come back.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { ApplySession } from '../../src/project/apply.js';
import { ensureMysqlState } from '../../src/project/mysqlState.js';
import { mysqlSession } from '../../src/project/mysqlSession.js';
import { mysqlSessionOptions, prepareMysqlSession } from '../../src/project/mysqlStore.js';
import { pgSession } from '../../src/project/pgSession.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { compileTarget, type Target, type TargetOptions } from '../../src/project/target.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { freshMariaDb, freshPostgresDb, mariaDbUrl, withMysql, type FreshDb } from '../support/services.js';

export type DialectName = 'postgres' | 'mysql';

/** One way of writing: PostgreSQL UNNEST or COPY, MySQL statements of many rows or of two. */
export interface Variant {
  label: string;
  release: '4.0' | '2.2';
  /** PostgreSQL: COPY from this many rows on. */
  copyMinRows?: number;
  /** MySQL: most rows per statement. */
  rowsPerStatement?: number;
  /**
   * Round trips of a batch that refreshes one binding, its log record keyed (begin can read the
   * binding) or not (read on its own), and of one that registers a binding of a new AOR; the
   * statements are listed where it is set.
   */
  roundTrips: { keyedRefresh: number; unkeyedRefresh: number; newBinding: number };
}

/** A connection to the test database. */
export interface Conn {
  /** Rows with every value as text (null stays null; booleans 1/0; VARBINARY as UTF-8). */
  q(sql: string): Promise<Array<Record<string, string | null>>>;
  /** Rows as `a|b|c` lines. */
  lines(sql: string, sep?: string): Promise<string[]>;
  exec(sql: string): Promise<void>;
  session(target: Target, variant?: Omit<Variant, 'roundTrips'>): ApplySession;
  /** Round trips (driver query calls) this connection has made so far. */
  roundTrips(): number;
  close(): Promise<void>;
}

export interface TestDb {
  url: string;
  name: string;
  /** The state schema / database of targets made by target(). */
  stateSchema: string;
  main: Conn;
  /** A second, independent connection (another instance, or the registrar). */
  connect(): Promise<Conn>;
  target(opts: Partial<TargetOptions> & { release: string }): Target;
  ensureState(target: Target): Promise<void>;
  drop(): Promise<void>;
}

export interface Dialect {
  name: DialectName;
  variants: Variant[];
  /** A fresh database with an empty location table of this release. */
  open(prefix: string, release: string): Promise<TestDb>;
  /** SQL: a BIGINT column as text, in a select list. */
  text(expr: string): string;
}

function render(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

function renderRows(rows: Array<Record<string, unknown>>): Array<Record<string, string | null>> {
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, render(v)])));
}

/** Counts a client's query calls (each one round trip: neither driver pipelines). */
function countRoundTrips(client: { query: (...args: never[]) => unknown }): { n: number } {
  const count = { n: 0 };
  const query: (...args: never[]) => unknown = client.query.bind(client);
  client.query = (...args: never[]) => {
    count.n++;
    return query(...args);
  };
  return count;
}

function baseTarget(db: FreshDb, stateSchema: string, opts: Partial<TargetOptions> & { release: string }): Target {
  return compileTarget({
    name: 't',
    db: db.url,
    table: 'location',
    hashSize: 9,
    useDomain: false,
    signedness: 'signed',
    timeZone: 'Europe/Berlin',
    stateSchema,
    ...opts,
  });
}

// timestamp / timestamptz / date as the text PostgreSQL prints, like MySQL's dateStrings.
const pgTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === 1114 || oid === 1184 || oid === 1082 ? (v: string) => v : pg.types.getTypeParser(oid, format),
};

async function pgConn(url: string): Promise<Conn> {
  const c = new pg.Client({ connectionString: url, types: pgTypes });
  c.on('error', () => undefined);
  await c.connect();
  const trips = countRoundTrips(c);
  const q = async (sql: string) => renderRows((await c.query(sql)).rows as Array<Record<string, unknown>>);
  return {
    q,
    lines: async (sql, sep = '|') => (await q(sql)).map((r) => Object.values(r).join(sep)),
    exec: async (sql) => {
      await c.query(sql);
    },
    session: (target, variant) => pgSession(c, target, { copyMinRows: variant?.copyMinRows ?? Number.MAX_SAFE_INTEGER }),
    roundTrips: () => trips.n,
    close: () => c.end().catch(() => undefined),
  };
}

async function mysqlConn(url: string): Promise<Conn> {
  const c = await mysql.createConnection(mysqlSessionOptions(url));
  await prepareMysqlSession(c);
  const trips = countRoundTrips(c);
  const q = async (sql: string) => {
    const [rows] = await c.query(sql);
    return renderRows(rows as Array<Record<string, unknown>>);
  };
  return {
    q,
    lines: async (sql, sep = '|') => (await q(sql)).map((r) => Object.values(r).join(sep)),
    exec: async (sql) => {
      await c.query(sql);
    },
    session: (target, variant) => mysqlSession(c, target, { rowsPerStatement: variant?.rowsPerStatement ?? 1000 }),
    roundTrips: () => trips.n,
    close: () => c.end().catch(() => undefined),
  };
}

export const postgres: Dialect = {
  name: 'postgres',
  variants: [
    // A refresh: BEGIN + offsets lock + bindings read, AORs locked, UPDATE + bindings upsert +
    // offset + COMMIT (the read and the writes as EXECUTE of statements this connection prepared).
    // A new binding of a new AOR: BEGIN + offsets lock + bindings read, AORs locked, a record label
    // drawn, INSERT ... ON CONFLICT DO NOTHING of the row, the AOR row inserted, bindings upsert +
    // offset + COMMIT.
    {
      label: '4.0 table, UNNEST arrays',
      release: '4.0',
      copyMinRows: Number.MAX_SAFE_INTEGER,
      roundTrips: { keyedRefresh: 3, unkeyedRefresh: 4, newBinding: 6 },
    },
    // From copyMinRows rows on (here: always) each write COPYs its stage first and runs at once.
    {
      label: '2.2 table, COPY into stage tables',
      release: '2.2',
      copyMinRows: 0,
      roundTrips: { keyedRefresh: 7, unkeyedRefresh: 8, newBinding: 9 },
    },
  ],
  text: (e) => `${e}::text`,
  async open(prefix, release) {
    const db = await freshPostgresDb(prefix);
    await createLocationTable(db.url, release);
    const stateSchema = `${db.name}_st`;
    const main = await pgConn(db.url);
    return {
      url: db.url,
      name: db.name,
      stateSchema,
      main,
      connect: () => pgConn(db.url),
      target: (opts) => baseTarget(db, stateSchema, opts),
      ensureState: async (target) => {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        try {
          await ensureStateSchema(c, target.stateSchema);
        } finally {
          await c.end();
        }
      },
      drop: async () => {
        await main.close();
        await db.drop();
      },
    };
  },
};

export const mariadb: Dialect = {
  name: 'mysql',
  variants: [
    // A refresh: isolation + START TRANSACTION + offsets lock + bindings read, AORs locked, UPDATE + bindings upsert + offset + COMMIT.
    // A new binding of a new AOR: isolation + START TRANSACTION + offsets lock + bindings read, AORs
    // locked, the AOR row inserted and its label read back, the row's INSERT (no lookup of its id
    // first: a clash fails it), AOR counter + bindings upsert + offset + COMMIT.
    {
      label: '4.0 table, one statement per write',
      release: '4.0',
      rowsPerStatement: 1000,
      roundTrips: { keyedRefresh: 3, unkeyedRefresh: 4, newBinding: 5 },
    },
    {
      label: '2.2 table, statements of two rows',
      release: '2.2',
      rowsPerStatement: 2,
      roundTrips: { keyedRefresh: 3, unkeyedRefresh: 4, newBinding: 5 },
    },
  ],
  text: (e) => `CAST(${e} AS CHAR)`,
  async open(prefix, release) {
    const db = await freshMariaDb(prefix);
    await createLocationTable(db.url, release);
    const stateSchema = `${db.name}_st`;
    const main = await mysqlConn(db.url);
    return {
      url: db.url,
      name: db.name,
      stateSchema,
      main,
      connect: () => mysqlConn(db.url),
      target: (opts) => baseTarget(db, stateSchema, opts),
      ensureState: async (target) => {
        const c = await mysql.createConnection(mysqlSessionOptions(db.url));
        try {
          await prepareMysqlSession(c);
          await ensureMysqlState(c, target);
        } finally {
          await c.end();
        }
      },
      drop: async () => {
        await main.close();
        await withMysql(mariaDbUrl(), (c) => c.query(`DROP DATABASE IF EXISTS \`${stateSchema}\``));
        await db.drop();
      },
    };
  },
};
