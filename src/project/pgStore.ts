import pg from 'pg';
import { connectError, queryError } from '../db/errors.js';
import type { DbTarget } from '../db/url.js';
import { withPoolClient } from '../db/pgPool.js';
import { applyBatch } from './apply.js';
import { pgSession } from './pgSession.js';
import { ensureStateSchema, ident } from './stateSchema.js';
import type { Target } from './target.js';
import { targetError, type TargetStore, type TargetStoreOptions } from './targetStore.js';

export interface PostgresTargetStore extends TargetStore {
  readonly dialect: 'postgres';
  readonly pool: pg.Pool;
}

/** The PostgreSQL store: a pool, the state schema, and the applier on a PostgreSQL session. */
export function createPostgresTargetStore(target: Target, db: DbTarget, opts: TargetStoreOptions): PostgresTargetStore {
  const pool = new pg.Pool({ connectionString: target.db, max: opts.poolSize, application_name: `ulbridge-${target.name}` });
  pool.on('error', (err) => opts.logger.warn({ err, target: target.name }, 'idle PostgreSQL connection failed'));
  return {
    target,
    dialect: 'postgres',
    pool,
    async ensureState() {
      let connected = false;
      try {
        await withPoolClient(pool, (client) => {
          connected = true;
          return ensureStateSchema(client, target.stateSchema);
        });
      } catch (e) {
        throw targetError(target, connected ? queryError(db, `creating the state schema "${target.stateSchema}"`, e) : connectError(db, e));
      }
    },
    async storedOffsets(topic, partitions) {
      const { rows } = await pool.query(
        `SELECT partition, next_offset::text AS n FROM ${ident(target.stateSchema)}.offsets WHERE topic = $1 AND partition = ANY($2::int[])`,
        [topic, partitions],
      );
      return new Map(rows.map((r) => [r.partition as number, r.n as string]));
    },
    applyBatch: (batch) => withPoolClient(pool, (client) => applyBatch(pgSession(client, target), batch)),
    async close() {
      await pool.end();
    },
  };
}
