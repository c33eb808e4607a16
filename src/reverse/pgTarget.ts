import pg from 'pg';
import { withPoolClient } from '../db/pgPool.js';
import { prepared } from '../db/pgPrepared.js';
import type { Logger } from '../ops/logger.js';
import type { AorState } from '../project/planner.js';
import { ensureStateSchema, ident } from '../project/stateSchema.js';
import type { Target } from '../project/target.js';
import { ensureReverseState, saveLabelsParams, saveLabelsSql } from './labels.js';
import type { LinksTransaction, ReverseTargetSession, ReverseTargetStore } from './target.js';

/**
 * Reverse sync on a PostgreSQL target (src/reverse/target.ts): the projection records each apply
 * transaction's xid in `<state>.own_tx`, which is what Debezium reports as `source.txId`, so the
 * own-write check is an equality; links and label state (`legacy_aors`, `legacy_rlabel_seq`) in
 * the state schema.
 */
export function pgReverseSession(client: pg.ClientBase, stateSchema: string): ReverseTargetSession {
  const s = ident(stateSchema);
  /** Links dropped and upserted, label state saved: one statement (data-modifying CTEs). */
  const linksStatement = (
    sourceName: string,
    add: ReadonlyMap<bigint, bigint>,
    drop: ReadonlySet<bigint>,
    labels: readonly AorState[],
  ): pg.QueryConfig =>
    prepared(
      `WITH dropped AS (DELETE FROM ${s}.links WHERE contact_id = ANY($1::bigint[])),
         labels AS (${saveLabelsSql(s, 5)})
         INSERT INTO ${s}.links (contact_id, binding, legacy_id)
         SELECT c, $4 || ':' || l, l FROM unnest($2::bigint[], $3::bigint[]) AS u(c, l)
         ON CONFLICT (contact_id) DO UPDATE SET binding = EXCLUDED.binding, legacy_id = EXCLUDED.legacy_id, created_at = now()`,
      [[...drop], [...add.keys()], [...add.values()], sourceName, ...saveLabelsParams(labels)],
    );
  return {
    dialect: 'postgres',
    async lookUp(sourceName, changes) {
      const txIds = [...new Set(changes.map((c) => c.txId).filter((t): t is bigint => t !== null))];
      const ids = [...new Set(changes.filter((c) => c.event.registration).map((c) => c.event.source.rowKey))];
      const { rows } = await client.query(
        prepared(
          `SELECT 0 AS o, xid::text AS c, NULL AS l FROM ${s}.own_tx WHERE xid = ANY($1::bigint[])
         UNION ALL
         SELECT 1, contact_id::text, source_row_key::text FROM ${s}.bindings WHERE contact_id = ANY($2::bigint[]) AND source_name = $3
         UNION ALL
         SELECT 2, contact_id::text, legacy_id::text FROM ${s}.links WHERE contact_id = ANY($2::bigint[])
         ORDER BY o`,
          [txIds, ids, sourceName],
        ),
      );
      const own = new Set<bigint>();
      const legacyOf = new Map<bigint, bigint>();
      for (const r of rows) {
        const c = BigInt(r.c as string);
        if (r.o === 0) own.add(c);
        else if (!legacyOf.has(c)) legacyOf.set(c, BigInt(r.l as string));
      }
      return { verdicts: changes.map((c) => (c.txId !== null && own.has(c.txId) ? 'own' : 'foreign')), legacyOf };
    },
    async legacyAors(wanted) {
      const aors = new Map<string, AorState>();
      const fresh: number[] = [];
      if (wanted.size > 0) {
        // One round trip: the known AORs' state, and a fresh record label for each of the others.
        const { rows } = await client.query(
          prepared(
            `WITH known AS (SELECT aor, aorhash, slot, rlabel, next_clabel, wrapped FROM ${s}.legacy_aors WHERE aor = ANY($1::text[]))
           SELECT aor, aorhash, slot, rlabel::text AS rlabel, next_clabel, wrapped FROM known
           UNION ALL
           SELECT NULL, NULL, NULL, nextval($2::regclass)::text, NULL, NULL
             FROM generate_series(1, cardinality($1::text[]) - (SELECT count(*) FROM known)::int)`,
            [[...wanted.keys()], `${s}.legacy_rlabel_seq`],
          ),
        );
        for (const a of rows) {
          if (a.aor === null) {
            fresh.push(Number(a.rlabel));
            continue;
          }
          aors.set(a.aor as string, {
            aor: a.aor as string,
            aorhash: a.aorhash as number,
            slot: a.slot as number,
            rlabel: Number(a.rlabel),
            nextClabel: a.next_clabel as number,
            wrapped: a.wrapped as boolean,
          });
        }
      }
      return {
        aors,
        takeRlabel: () => {
          const r = fresh.shift();
          if (r === undefined) throw new Error('reverse sync: record labels drawn for this batch ran out');
          return r;
        },
      };
    },
    async writeLinks(sourceName, add, drop, labels) {
      if (add.size === 0 && drop.size === 0 && labels.length === 0) return;
      // One statement, so one target transaction (and one round trip).
      await client.query(linksStatement(sourceName, add, drop, labels));
    },
    async openLinks(sourceName, add, drop, labels) {
      await client.query('BEGIN');
      const end = (sql: string) => async () => void (await client.query(sql));
      const links: LinksTransaction = {
        amend: async (more, state) => void (await client.query(linksStatement(sourceName, more, new Set(), state))),
        commit: end('COMMIT'),
        rollback: end('ROLLBACK'),
      };
      try {
        await client.query(linksStatement(sourceName, add, drop, labels));
      } catch (e) {
        await links.rollback().catch(() => undefined);
        throw e;
      }
      return links;
    },
    async pruneOwnTransactions(olderThanSeconds) {
      const res = await client.query(`DELETE FROM ${s}.own_tx WHERE committed_at < now() - make_interval(secs => $1)`, [olderThanSeconds]);
      return res.rowCount ?? 0;
    },
  };
}

/** A pool on the PostgreSQL target for one reverse sync. */
export function pgReverseTargetStore(target: Target, opts: { name: string; logger: Logger; poolSize?: number }): ReverseTargetStore {
  const pool = new pg.Pool({ connectionString: target.db, max: opts.poolSize ?? 2, application_name: `ulbridge-reverse-${opts.name}` });
  pool.on('error', (err) => opts.logger.warn({ err, reverse: opts.name }, 'idle PostgreSQL connection failed'));
  return {
    dialect: 'postgres',
    ensureState: () =>
      withPoolClient(pool, async (client) => {
        await ensureStateSchema(client, target.stateSchema);
        await ensureReverseState(client, target.stateSchema);
      }),
    withSession: (fn) => withPoolClient(pool, (client) => fn(pgReverseSession(client, target.stateSchema))),
    close: () => pool.end(),
  };
}
