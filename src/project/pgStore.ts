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

/** Events applied by one store before it first ANALYZEs the state tables; then after 4x as many, and so on. */
const FIRST_STATE_ANALYZE_AT = 1000;

/**
 * The PostgreSQL store: a pool, the state schema, and the applier on a PostgreSQL session.
 *
 * It also ANALYZEs the state tables the applier reads by key (`aors`, `bindings`) after 1,000
 * applied events, 4,000, 16,000 and so on (a dozen times in 4 billion events): the applier's named
 * statements keep the generic plan made at their sixth run, and one made while a new target's
 * state was nearly empty scans the whole table until statistics say otherwise. Autovacuum would
 * analyse them within a minute or so; until then a first load of small batches ran several times
 * slower (docs/performance.md, "Generic plans made on small tables"). ANALYZE invalidates every
 * session's plans of those tables, so each is replanned on its next run.
 */
export function createPostgresTargetStore(target: Target, db: DbTarget, opts: TargetStoreOptions): PostgresTargetStore {
  const pool = new pg.Pool({ connectionString: target.db, max: opts.poolSize, application_name: `ulbridge-${target.name}` });
  pool.on('error', (err) => opts.logger.warn({ err, target: target.name }, 'idle PostgreSQL connection failed'));
  let applied = 0;
  let analyzeAt = FIRST_STATE_ANALYZE_AT;

  /** After a batch committed: ANALYZE the state tables when `applied` has reached the next mark. */
  async function analyzeStateIfDue(client: pg.ClientBase, batchApplied: number): Promise<void> {
    applied += batchApplied;
    if (applied < analyzeAt) return;
    while (analyzeAt <= applied) analyzeAt *= 4;
    const s = ident(target.stateSchema);
    try {
      await client.query(`ANALYZE ${s}.aors, ${s}.bindings`);
    } catch (err) {
      // The batch has committed; autovacuum analyses the tables in time anyway.
      opts.logger.warn({ err, target: target.name }, 'ANALYZE of the state tables failed (autovacuum will analyse them)');
    }
  }

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
    applyBatch: (batch) =>
      withPoolClient(pool, async (client) => {
        const result = await applyBatch(pgSession(client, target), batch);
        await analyzeStateIfDue(client, result.applied);
        return result;
      }),
    async close() {
      await pool.end();
    },
  };
}
