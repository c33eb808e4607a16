import mysql from 'mysql2/promise';
import { parseDbUrl } from '../db/url.js';
import type { AorState } from '../project/planner.js';
import { myIdent } from '../project/mysqlState.js';
import { ensureMysqlStateOf, mysqlTargetPool } from '../project/mysqlStore.js';
import { FIRST_RLABEL } from '../project/stateSchema.js';
import type { Target } from '../project/target.js';
import { ownWrite, type OwnTxRow } from './ownWrites.js';
import type { LinksTransaction, ReverseTargetSession, ReverseTargetStore } from './target.js';

/**
 * Reverse sync on a MySQL/MariaDB target (src/reverse/target.ts). The projection's own
 * transactions are the own_tx markers of src/project/mysqlSession.ts (server, fence, GTID set right
 * after COMMIT, ceiling after a crash; docs/decisions.md, "Own writes on MySQL/MariaDB targets"):
 * a batch loads the markers whose GTID is one of its events' GTIDs plus every marker without GTID,
 * and src/reverse/ownWrites.ts decides each event (own, foreign, pending, ambiguous). Links and
 * label state (`legacy_aors`, whose AUTO_INCREMENT rlabel is the record label allocator, as
 * `aors.rlabel` is the projection's) live in the state database beside them.
 *
 * The connection is set up as the projection's (src/project/mysqlStore.ts: utf8mb4, 64-bit values
 * as strings, several statements per round trip, UTC, strict sql_mode, READ COMMITTED). Values are
 * SQL literals: 64-bit numbers bare from bigint, text escaped, state keys as _binary literals.
 */

type Row = Record<string, unknown>;

const KEYS_PER_STATEMENT = 5000;
const ER_DUP_ENTRY = 1062;

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const bin = (v: string): string => `_binary${mysql.escape(v)}`;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `IN (...)` of 64-bit keys as bare literals; `IN (NULL)` (matches nothing) when empty. */
function inList(ids: readonly bigint[]): string {
  return ids.length === 0 ? '(NULL)' : `(${ids.map((i) => BigInt.asIntN(64, i).toString()).join(', ')})`;
}

function aorFromRow(r: Row): AorState {
  const rlabel = Number(r.rlabel);
  if (rlabel < FIRST_RLABEL)
    throw new Error(
      `legacy record label ${rlabel} of AOR ${text(r.aor)} is below ${FIRST_RLABEL}: the legacy_aors AUTO_INCREMENT was reset`,
    );
  return {
    aor: text(r.aor),
    aorhash: Number(r.aorhash),
    slot: Number(r.slot),
    rlabel,
    nextClabel: Number(r.next_clabel),
    wrapped: Number(r.wrapped) === 1,
  };
}

export function mysqlReverseSession(conn: mysql.Connection, stateSchema: string): ReverseTargetSession {
  const s = myIdent(stateSchema);
  const query = async (sql: string): Promise<Row[]> => (await conn.query(sql))[0] as Row[];

  async function loadAors(keys: readonly string[], into: Map<string, AorState>): Promise<void> {
    for (const part of chunk(keys, KEYS_PER_STATEMENT)) {
      for (const r of await query(
        `SELECT aor, aorhash, slot, rlabel, next_clabel, wrapped FROM ${s}.legacy_aors WHERE aor IN (${part.map(bin).join(', ')})`,
      )) {
        const a = aorFromRow(r);
        into.set(a.aor, a);
      }
    }
  }

  /** Links dropped and upserted, label state saved (no transaction statements). */
  function linkStatements(
    sourceName: string,
    add: ReadonlyMap<bigint, bigint>,
    drop: ReadonlySet<bigint>,
    labels: readonly AorState[],
  ): string[] {
    const sql: string[] = [];
    for (const part of chunk([...drop], KEYS_PER_STATEMENT)) sql.push(`DELETE FROM ${s}.links WHERE contact_id IN ${inList(part)}`);
    // The first assignment fails the statement (NOT NULL) if a row met another link's binding
    // instead of its own contact id: ON DUPLICATE KEY UPDATE would otherwise update that row.
    for (const part of chunk([...add], 1000)) {
      sql.push(
        `INSERT INTO ${s}.links (contact_id, binding, legacy_id, created_at) VALUES ${part
          .map(([c, l]) => `(${c}, ${bin(`${sourceName}:${l}`)}, ${l}, UTC_TIMESTAMP(3))`)
          .join(', ')}
         ON DUPLICATE KEY UPDATE contact_id = IF(contact_id = VALUES(contact_id), contact_id, NULL),
           binding = VALUES(binding), legacy_id = VALUES(legacy_id), created_at = VALUES(created_at)`,
      );
    }
    // Every AOR was created with its label before planning (legacyAors): its counters only.
    for (const part of chunk(labels, 1000)) {
      const derived = part
        .map(
          (a, i) =>
            `SELECT ${bin(a.aor)}${i === 0 ? ' AS aor' : ''}, ${a.rlabel}${i === 0 ? ' AS rlabel' : ''}, ${a.nextClabel}${i === 0 ? ' AS next_clabel' : ''}, ${a.wrapped ? 'TRUE' : 'FALSE'}${i === 0 ? ' AS wrapped' : ''}`,
        )
        .join(' UNION ALL ');
      sql.push(
        `UPDATE ${s}.legacy_aors AS a JOIN (${derived}) AS u ON a.aor = u.aor AND a.rlabel = u.rlabel
            SET a.next_clabel = u.next_clabel, a.wrapped = u.wrapped`,
      );
    }
    return sql;
  }

  return {
    dialect: 'mysql',
    async lookUp(sourceName, changes) {
      const gtids = [...new Set(changes.map((c) => c.binlog?.gtid).filter((g): g is string => typeof g === 'string'))];
      const ids = [...new Set(changes.filter((c) => c.event.registration).map((c) => c.event.source.rowKey))];
      const markers: OwnTxRow[] = [];
      const legacyOf = new Map<bigint, bigint>();
      const forward = new Map<bigint, bigint>();
      const linked = new Map<bigint, bigint>();
      // The markers this batch can need: those with one of its GTIDs, and every one without GTID.
      const own = `SELECT CAST(server_id AS CHAR) AS server_id, fence, gtid, ceiling FROM ${s}.own_tx
                    WHERE gtid IS NULL${gtids.length > 0 ? ` OR gtid IN (${gtids.map((g) => mysql.escape(g)).join(', ')})` : ''}`;
      const parts = chunk(ids, KEYS_PER_STATEMENT);
      if (parts.length === 0) parts.push([]);
      for (const [i, part] of parts.entries()) {
        const [sets] = await conn.query(
          `${i === 0 ? `${own};` : 'SELECT 1 FROM DUAL WHERE FALSE;'}
           SELECT CAST(contact_id AS CHAR) AS c, CAST(source_row_key AS CHAR) AS l FROM ${s}.bindings
            WHERE contact_id IN ${inList(part)} AND source_name = ${bin(sourceName)};
           SELECT CAST(contact_id AS CHAR) AS c, CAST(legacy_id AS CHAR) AS l FROM ${s}.links WHERE contact_id IN ${inList(part)}`,
        );
        const [o, b, l] = sets as Row[][];
        for (const r of o!)
          markers.push({
            serverId: BigInt(text(r.server_id)),
            fence: text(r.fence),
            gtid: r.gtid === null ? null : text(r.gtid),
            ceiling: r.ceiling === null ? null : text(r.ceiling),
          });
        for (const r of b!) forward.set(BigInt(text(r.c)), BigInt(text(r.l)));
        for (const r of l!) linked.set(BigInt(text(r.c)), BigInt(text(r.l)));
      }
      for (const [c, l] of forward) legacyOf.set(c, l);
      for (const [c, l] of linked) if (!legacyOf.has(c)) legacyOf.set(c, l);
      // An event without a binlog source block cannot be told: it is applied under the conflict rule.
      return { verdicts: changes.map((c) => (c.binlog ? ownWrite(c.binlog, markers) : 'ambiguous')), legacyOf };
    },
    async legacyAors(wanted) {
      const aors = new Map<string, AorState>();
      await loadAors([...wanted.keys()], aors);
      // New AORs get their record label from legacy_aors' AUTO_INCREMENT: inserted now (committed
      // on their own, next_clabel 0), read back by key. A crash before the links commit leaves an
      // AOR whose label no row uses yet: nothing is handed out twice.
      for (let attempt = 0; ; attempt++) {
        const missing = [...wanted.keys()].filter((k) => !aors.has(k));
        if (missing.length === 0) break;
        try {
          for (const part of chunk(missing, 1000)) {
            await conn.query(
              `INSERT INTO ${s}.legacy_aors (aor, aorhash, slot, next_clabel, wrapped) VALUES ${part
                .map((k) => {
                  const id = wanted.get(k)!;
                  return `(${bin(id.key)}, ${id.aorhash}, ${id.slot}, 0, FALSE)`;
                })
                .join(', ')}`,
            );
          }
        } catch (e) {
          // Another instance created one of them first: read it and try the rest again.
          if ((e as { errno?: number }).errno !== ER_DUP_ENTRY || attempt >= 3) throw e;
        }
        await loadAors(missing, aors);
      }
      return {
        aors,
        takeRlabel: () => {
          throw new Error('reverse sync: record label asked for an AOR that was not created before planning');
        },
      };
    },
    async writeLinks(sourceName, add, drop, labels) {
      if (add.size === 0 && drop.size === 0 && labels.length === 0) return;
      // One round trip; a failed statement stops the rest, and the session is then dropped (its
      // transaction with it) by the store.
      await conn.query(['START TRANSACTION', ...linkStatements(sourceName, add, drop, labels), 'COMMIT'].join(';\n'));
    },
    async openLinks(sourceName, add, drop, labels) {
      const end = (sql: string) => async () => void (await conn.query(sql));
      const links: LinksTransaction = {
        async amend(more, state) {
          const sql = linkStatements(sourceName, more, new Set(), state);
          if (sql.length > 0) await conn.query(sql.join(';\n'));
        },
        commit: end('COMMIT'),
        rollback: end('ROLLBACK'),
      };
      try {
        await conn.query(['START TRANSACTION', ...linkStatements(sourceName, add, drop, labels)].join(';\n'));
      } catch (e) {
        await links.rollback().catch(() => undefined);
        throw e;
      }
      return links;
    },
    async pruneOwnTransactions(olderThanSeconds) {
      const [res] = await conn.query(
        `DELETE FROM ${s}.own_tx WHERE committed_at < UTC_TIMESTAMP(3) - INTERVAL ${Math.max(0, Math.floor(olderThanSeconds))} SECOND`,
      );
      return (res as { affectedRows: number }).affectedRows;
    },
  };
}

/** A mysql2 pool on the MySQL/MariaDB target for one reverse sync, sessions set up as the projection's. */
export function mysqlReverseTargetStore(target: Target, opts: { poolSize?: number }): ReverseTargetStore {
  const db = parseDbUrl(target.db);
  const { pool, withConnection } = mysqlTargetPool(target, db, opts.poolSize ?? 2);
  return {
    dialect: 'mysql',
    ensureState: () => withConnection(async (conn) => void (await ensureMysqlStateOf(target, db, conn))),
    withSession: (fn) => withConnection((conn) => fn(mysqlReverseSession(conn, target.stateSchema))),
    close: () => pool.end(),
  };
}
