import type { MysqlSource } from '../cdc/envelope.js';

/**
 * Is a change event of a MySQL/MariaDB target table ulbridge's own write? (docs/decisions.md,
 * "Own writes on MySQL/MariaDB targets"). Each apply transaction into a shared MySQL/MariaDB target
 * leaves a marker row in `<state>.own_tx` (src/project/mysqlSession.ts): the server it ran on,
 * its `fence` (the server's GTID position read inside it, after its writes), and its `gtid`, set by
 * the statement right after COMMIT. A marker whose GTID never got set (the server crashed in
 * between) gets a `ceiling` (the GTID position read by a later session, which covers it).
 *
 * A pure decision over the event's source block and own_tx rows. The rows a reader must pass:
 * those whose gtid is one of the events' GTIDs, and every row whose gtid is NULL.
 */

/** One own_tx row (src/project/mysqlState.ts). */
export interface OwnTxRow {
  serverId: bigint;
  /** GTID position inside the transaction, after its writes: covers every transaction before it, never itself. */
  fence: string;
  /** The transaction's GTID; null until set after COMMIT (or for good, after a server crash). */
  gtid: string | null;
  /** For a marker without GTID: a later GTID position, which covers the transaction. */
  ceiling: string | null;
}

/**
 * - `own`: the event's transaction is one ulbridge committed: do not copy it back.
 * - `foreign`: it is not (a registrar's, an operator's), or the event is a snapshot read.
 * - `pending`: a marker whose GTID is not recorded yet may be this transaction (normally a moment
 *   away: the statement after COMMIT sets it; after a server crash, the projection's next session
 *   bounds it). Decide again later, with fresh own_tx rows.
 * - `ambiguous`: the records cannot tell: a marker whose GTID a server crash lost covers a range
 *   of GTIDs this one is in, or the event carries no GTID at all (a server without GTIDs).
 */
export type OwnWriteVerdict = 'own' | 'foreign' | 'pending' | 'ambiguous';

export type OwnWriteSource = Pick<MysqlSource, 'gtid' | 'server_id' | 'snapshot'>;

export function ownWrite(source: OwnWriteSource, rows: readonly OwnTxRow[]): OwnWriteVerdict {
  // A snapshot read is not a transaction anyone made now; like PostgreSQL's, it is copied back
  // under the conflict rule (equal versions change nothing).
  if (source.snapshot !== 'false') return 'foreign';
  if (source.gtid === null) return 'ambiguous';
  const gtid = parseGtid(source.gtid);
  if (gtid === null) return 'ambiguous';
  let verdict: OwnWriteVerdict = 'foreign';
  for (const row of rows) {
    if (row.gtid !== null) {
      const own = parseGtid(row.gtid);
      if (own !== null && sameGtid(own, gtid)) return 'own';
      continue;
    }
    // A marker without GTID: its transaction ran on row.serverId, after everything its fence
    // covers, and (once bounded) before everything its ceiling does not cover.
    if (row.serverId !== source.server_id) continue;
    // (A position that cannot be read bounds nothing.)
    if (covers(row.fence, gtid) === true) continue;
    if (row.ceiling === null) verdict = 'pending';
    else if (covers(row.ceiling, gtid) !== false && verdict === 'foreign') verdict = 'ambiguous';
  }
  return verdict;
}

/** MariaDB `domain-server-seq`; MySQL `uuid:n` or `uuid:tag:n` (8.3+). */
export type Gtid =
  { kind: 'mariadb'; domain: bigint; server: bigint; seq: bigint } | { kind: 'mysql'; uuid: string; tag: string; seq: bigint };

const MARIADB_GTID = /^(\d+)-(\d+)-(\d+)$/;
const MYSQL_GTID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?::([a-z_][a-z0-9_]{0,31}))?:(\d+)$/i;

export function parseGtid(text: string): Gtid | null {
  const t = text.trim();
  let m = MARIADB_GTID.exec(t);
  if (m) return { kind: 'mariadb', domain: BigInt(m[1]!), server: BigInt(m[2]!), seq: BigInt(m[3]!) };
  m = MYSQL_GTID.exec(t);
  if (m) return { kind: 'mysql', uuid: m[1]!.toLowerCase(), tag: (m[2] ?? '').toLowerCase(), seq: BigInt(m[3]!) };
  return null;
}

function sameGtid(a: Gtid, b: Gtid): boolean {
  if (a.kind === 'mariadb' && b.kind === 'mariadb') return a.domain === b.domain && a.server === b.server && a.seq === b.seq;
  if (a.kind === 'mysql' && b.kind === 'mysql') return a.uuid === b.uuid && a.tag === b.tag && a.seq === b.seq;
  return false;
}

/**
 * Whether a GTID position covers a GTID (the transaction committed before the position was read):
 * MariaDB `@@gtid_binlog_pos` (`d-s-n,...`, the last GTID per domain; sequence numbers grow within
 * a domain), MySQL `gtid_executed` (`uuid:1-5:7,uuid2:tag:1-3,...`). Null when the position cannot
 * be read as one of these (the caller must then not rely on it).
 */
export function covers(position: string, gtid: Gtid): boolean | null {
  const text = position.trim();
  if (text === '') return false;
  if (gtid.kind === 'mariadb') {
    let covered = false;
    for (const part of text.split(',')) {
      const g = parseGtid(part);
      if (g === null || g.kind !== 'mariadb') return null;
      if (g.domain === gtid.domain && g.seq >= gtid.seq) covered = true;
    }
    return covered;
  }
  let covered = false;
  for (const part of text.split(',')) {
    const pieces = part.trim().split(':');
    const uuid = pieces[0]!.toLowerCase();
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid) || pieces.length < 2) return null;
    let tag = '';
    for (const piece of pieces.slice(1)) {
      const range = /^(\d+)(?:-(\d+))?$/.exec(piece);
      if (range) {
        const lo = BigInt(range[1]!);
        const hi = range[2] === undefined ? lo : BigInt(range[2]);
        if (uuid === gtid.uuid && tag === gtid.tag && gtid.seq >= lo && gtid.seq <= hi) covered = true;
      } else if (/^[a-z_][a-z0-9_]{0,31}$/i.test(piece)) tag = piece.toLowerCase();
      else return null;
    }
  }
  return covered;
}
