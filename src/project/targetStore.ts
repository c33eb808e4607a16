import pg from 'pg';
import { connectError, queryError } from '../db/errors.js';
import { parseDbUrl, type DbTarget, type DialectName } from '../db/url.js';
import { isUlbridgeError, UlbridgeError } from '../ops/errors.js';
import type { Logger } from '../ops/logger.js';
import { applyBatch, type ApplyOptions, type BatchResult } from './applyBatch.js';
import { createMysqlTargetStore } from './mysqlStore.js';
import { ensureStateSchema, ident } from './stateSchema.js';
import type { Target } from './target.js';

/** One batch for a store: ApplyOptions without the target, which the store was made for. */
export type StoreBatch = Omit<ApplyOptions, 'target'>;

/**
 * Where a projection writes one target: the target table and ulbridge's state beside it, in one
 * database. The projection (src/project/projection.ts) sees only this; the database kind comes
 * from the target URL's scheme.
 */
export interface TargetStore {
  readonly target: Target;
  readonly dialect: DialectName;
  /** Creates ulbridge's state (schema or database) if missing; coded error if the database cannot be reached. */
  ensureState(): Promise<void>;
  /** The next offset stored for each partition of the log topic that has one. */
  storedOffsets(topic: string, partitions: number[]): Promise<Map<number, string>>;
  /** One batch in one transaction (see applyBatch). */
  applyBatch(opts: StoreBatch): Promise<BatchResult>;
  close(): Promise<void>;
}

export interface TargetStoreOptions {
  /** Connections in the pool. */
  poolSize: number;
  logger: Logger;
}

/** postgres:// and postgresql:// URLs get the PostgreSQL store; mysql:// and mariadb:// the MySQL one. */
export function createTargetStore(target: Target, opts: TargetStoreOptions): TargetStore {
  const db = targetDb(target);
  return db.dialect === 'postgres' ? createPostgresTargetStore(target, db, opts) : createMysqlTargetStore(target, db, opts);
}

function targetDb(target: Target): DbTarget {
  try {
    return parseDbUrl(target.db);
  } catch (e) {
    throw targetError(target, e);
  }
}

/** A db-layer error worded for a target of the config ("--db" is "targets[].db" there). */
export function targetError(target: Target, e: unknown): unknown {
  if (!isUlbridgeError(e)) return e;
  const message = e.message.replace(/--db\b/g, 'targets[].db').replace(/--table\b/g, 'targets[].table');
  return new UlbridgeError(e.code, `target "${target.name}": ${message}`, e.exitCode, { cause: e });
}

export interface PostgresTargetStore extends TargetStore {
  readonly dialect: 'postgres';
  readonly pool: pg.Pool;
}

/** The PostgreSQL store: the pool, ensureStateSchema and applyBatch of src/project/, as they are. */
export function createPostgresTargetStore(target: Target, db: DbTarget, opts: TargetStoreOptions): PostgresTargetStore {
  const pool = new pg.Pool({ connectionString: target.db, max: opts.poolSize, application_name: `ulbridge-${target.name}` });
  pool.on('error', (err) => opts.logger.warn({ err, target: target.name }, 'idle PostgreSQL connection failed'));
  return {
    target,
    dialect: 'postgres',
    pool,
    async ensureState() {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw targetError(target, connectError(db, e));
      }
      try {
        await ensureStateSchema(client, target.stateSchema);
      } catch (e) {
        throw targetError(target, queryError(db, `creating the state schema "${target.stateSchema}"`, e));
      } finally {
        client.release();
      }
    },
    async storedOffsets(topic, partitions) {
      const { rows } = await pool.query(
        `SELECT partition, next_offset::text AS n FROM ${ident(target.stateSchema)}.offsets WHERE topic = $1 AND partition = ANY($2::int[])`,
        [topic, partitions],
      );
      return new Map(rows.map((r) => [r.partition as number, r.n as string]));
    },
    async applyBatch(batch) {
      const client = await pool.connect();
      try {
        return await applyBatch(client, { ...batch, target });
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
