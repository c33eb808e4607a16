/**
 * How far a Debezium connector is behind its database, measured against the database's position
 * at the start of the check (so a busy database does not make a caught-up connector look behind):
 *
 *  - PostgreSQL: the slot's walsender `sent_lsn` (pg_stat_replication) against
 *    pg_current_wal_flush_lsn(). The walsender decodes every WAL record in order (relevant or not)
 *    and hands the captured table's changes to the connector, so `sent_lsn >= start` means every
 *    change committed before the check has been handed to the connector. The slot's
 *    `confirmed_flush_lsn` is reported too (`unconfirmedBytes`: WAL the slot retains), but not
 *    judged: Debezium confirms only positions of events it captured, so on an idle table in a busy
 *    cluster it stays behind for good.
 *  - MySQL/MariaDB: the connector's committed offset (GET /connectors/NAME/offsets: binlog file,
 *    pos and GTID set; it follows the binlog while the table is idle thanks to heartbeats) against
 *    SHOW MASTER STATUS (SHOW BINARY LOG STATUS on MySQL 8.4) and the GTID position. Caught up when
 *    the offset's GTIDs cover the server's as of the start (or, without GTIDs, its file:pos is at or
 *    past the start), or when the binlog in between (SHOW BINLOG EVENTS) holds no change to the
 *    captured table the connector has not emitted (the offset is the start of the transaction it
 *    resumes from, so on an idle server it stays at the last transaction it saw; a change whose
 *    GTID is in the topic's recent events has been written whatever the offset says); otherwise the
 *    binlog bytes in between (SHOW BINARY LOGS sizes across files).
 *
 * Bytes only: neither database maps a WAL/binlog position to a commit time that could be
 * subtracted honestly. A connector short of the start position is re-read for up to `waitMs`.
 */
import type { DbConnection } from '../db/connection.js';
import { openDb } from '../db/open.js';
import { redactUrl } from '../db/url.js';
import type { ConnectClient } from './rest.js';
import { slotName, type ConnectorSpec } from './derive.js';
import { recentSourceGtids } from './topicTail.js';

export interface CaptureLag {
  /** The database's position at the start of the check: `0/1A2B3C` (LSN) or `file:pos` (binlog), with `gtid ...` when known. */
  databasePosition: string | null;
  /** The connector's position: the walsender's sent LSN, or the committed offset's `file:pos`. */
  connectorPosition: string | null;
  /** Bytes from the connector's position to the database's start position (decimal string); '0' when caught up; null when unknown. */
  lagBytes: string | null;
  caughtUp: boolean;
  /** PostgreSQL: WAL between the slot's confirmed_flush_lsn and the current flush position (retained WAL). */
  unconfirmedBytes: string | null;
  /** PostgreSQL: the replication slot exists and a walsender holds it. */
  slotActive: boolean | null;
  /** Why a figure is missing, or null. */
  problem: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** LSN text `X/Y` as a 64-bit integer. */
export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

async function postgresLag(db: DbConnection, spec: ConnectorSpec, waitMs: number): Promise<CaptureLag> {
  const slot = slotName(spec);
  const [start] = await db.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn');
  const startLsn = start!.lsn;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const rows = await db.query<{ active: boolean; confirmed: string | null; sent: string | null; cur: string }>(
      `SELECT s.active, s.confirmed_flush_lsn::text AS confirmed, r.sent_lsn::text AS sent, pg_current_wal_flush_lsn()::text AS cur
         FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
        WHERE s.slot_name = $1`,
      [slot],
    );
    const row = rows[0];
    if (!row) {
      return {
        databasePosition: startLsn,
        connectorPosition: null,
        lagBytes: null,
        caughtUp: false,
        unconfirmedBytes: null,
        slotActive: false,
        problem: `replication slot ${slot} does not exist`,
      };
    }
    const unconfirmed = row.confirmed === null ? null : String(max0(lsnToBigInt(row.cur) - lsnToBigInt(row.confirmed)));
    if (!row.active || row.sent === null) {
      const problem = !row.active
        ? `replication slot ${slot} is not in use: the connector is not streaming (still snapshotting, or stopped)`
        : `pg_stat_replication shows no sent_lsn for slot ${slot} (grant pg_read_all_stats to the user of capture.db)`;
      const lag = row.confirmed === null ? null : String(max0(lsnToBigInt(startLsn) - lsnToBigInt(row.confirmed)));
      return {
        databasePosition: startLsn,
        connectorPosition: row.confirmed,
        lagBytes: lag,
        caughtUp: false,
        unconfirmedBytes: unconfirmed,
        slotActive: row.active,
        problem,
      };
    }
    const behind = max0(lsnToBigInt(startLsn) - lsnToBigInt(row.sent));
    if (behind === 0n || Date.now() >= deadline) {
      return {
        databasePosition: startLsn,
        connectorPosition: row.sent,
        lagBytes: String(behind),
        caughtUp: behind === 0n,
        unconfirmedBytes: unconfirmed,
        slotActive: true,
        problem: null,
      };
    }
    await sleep(250);
  }
}

const max0 = (n: bigint): bigint => (n > 0n ? n : 0n);

interface BinlogPos {
  file: string;
  pos: bigint;
}

/** `mariadb-bin.000012` before `mariadb-bin.000013`: binlog names end in a zero-padded sequence. */
function cmpPos(a: BinlogPos, b: BinlogPos): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.pos === b.pos ? 0 : a.pos < b.pos ? -1 : 1;
}

/**
 * Does GTID set `have` cover `want` (as far as the connector's position goes)? MariaDB:
 * `domain-server-seq` lists, per domain the highest seq. MySQL: `uuid:1-5:7-9` lists, per source
 * uuid the highest transaction number.
 */
export function gtidsCover(have: string, want: string): boolean {
  const high = (set: string): Map<string, bigint> => {
    const m = new Map<string, bigint>();
    for (const raw of set
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const maria = /^(\d+)-\d+-(\d+)$/.exec(raw);
      if (maria) {
        const prev = m.get(maria[1]!);
        const n = BigInt(maria[2]!);
        if (prev === undefined || n > prev) m.set(maria[1]!, n);
        continue;
      }
      const [uuid, ...ranges] = raw.split(':');
      let top = 0n;
      for (const r of ranges) {
        const end = r.split('-').pop()!;
        if (/^\d+$/.test(end) && BigInt(end) > top) top = BigInt(end);
      }
      const key = uuid!.toLowerCase();
      const prev = m.get(key);
      if (prev === undefined || top > prev) m.set(key, top);
    }
    return m;
  };
  const h = high(have);
  for (const [k, n] of high(want)) {
    const got = h.get(k);
    if (got === undefined || got < n) return false;
  }
  return true;
}

/** Binlog bytes from `from` to `to`, given the sizes of the server's binlog files (null when a file is unknown). */
export function binlogBytesBetween(from: BinlogPos, to: BinlogPos, sizes: Map<string, bigint>): bigint | null {
  if (cmpPos(from, to) >= 0) return 0n;
  if (from.file === to.file) return to.pos - from.pos;
  const files = [...sizes.keys()].sort();
  if (!sizes.has(from.file) || !sizes.has(to.file)) return null;
  let n = max0(sizes.get(from.file)! - from.pos);
  for (const f of files) if (f > from.file && f < to.file) n += sizes.get(f)!;
  return n + to.pos;
}

async function serverBinlog(db: DbConnection): Promise<{ pos: BinlogPos; gtid: string | null }> {
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await db.query('SHOW MASTER STATUS');
  } catch {
    rows = await db.query('SHOW BINARY LOG STATUS');
  }
  const r = rows[0];
  if (!r) throw new Error('the server writes no binary log (SHOW MASTER STATUS is empty): Debezium cannot capture it');
  let gtid: string | null = typeof r.Executed_Gtid_Set === 'string' && r.Executed_Gtid_Set ? r.Executed_Gtid_Set.replace(/\s+/g, '') : null;
  if (gtid === null) {
    try {
      const [g] = await db.query<{ g: string | null }>('SELECT @@gtid_binlog_pos AS g');
      gtid = g?.g ? String(g.g) : null;
    } catch {
      gtid = null;
    }
  }
  return { pos: { file: String(r.File), pos: BigInt(String(r.Position)) }, gtid };
}

export interface BinlogEvent {
  Log_name: string;
  Pos: number | string;
  Event_type: string;
  End_log_pos: number | string;
  Info: string;
}

/**
 * Does the binlog from the connector's restart position up to the database's start position hold
 * no change to the captured table the connector has not emitted? Debezium's committed offset is the
 * start of the transaction it resumes from (and how many of its events it has processed), so on an
 * idle server it stays at the start of the last transaction it saw. Transactions that touch other
 * tables (other databases share the binlog) are not pending changes; the transaction at the restart
 * position is not pending when the offset already counts its events up to its last row event.
 * Unknown (too many events, no privilege) is false.
 */
export function capturedPending(events: BinlogEvent[], capturedTable: string, eventsDone: number | null): boolean {
  return pendingTransactions(events, capturedTable, eventsDone).length > 0;
}

/** The transaction's GTID as Debezium writes it in source.gtid (MariaDB `0-1-891`, MySQL `uuid:5`), or null. */
function eventGtid(info: string): string | null {
  const maria = /GTID\s+(\d+-\d+-\d+)/.exec(info);
  if (maria) return maria[1]!;
  const mysqlGtid = /GTID_NEXT\s*=\s*'([^']+)'/.exec(info);
  return mysqlGtid && mysqlGtid[1] !== 'ANONYMOUS' ? mysqlGtid[1]! : null;
}

/** The pending changes to the captured table (see capturedPending): their GTIDs, null where a transaction has none. */
export function pendingTransactions(events: BinlogEvent[], capturedTable: string, eventsDone: number | null): Array<string | null> {
  const table = `(${capturedTable})`;
  type Txn = { index: number; touches: boolean; lastRows: number; first: boolean; byGtid: boolean; gtid: string | null };
  let txn: Txn | null = null;
  const out: Array<string | null> = [];
  const pending = (t: Txn): boolean => t.touches && !(t.first && eventsDone !== null && eventsDone >= t.lastRows);
  for (const e of events) {
    const type = e.Event_type;
    const gtid = type === 'Gtid' || type === 'Anonymous_Gtid';
    // MySQL writes Gtid then Query BEGIN (one transaction); without GTIDs a transaction starts at BEGIN.
    const begin = type === 'Query' && /^BEGIN\b/i.test(e.Info) && !(txn !== null && txn.byGtid && txn.index === 0);
    if (gtid || begin) {
      if (txn && pending(txn)) out.push(txn.gtid);
      txn = { index: 0, touches: false, lastRows: -1, first: txn === null, byGtid: gtid, gtid: gtid ? eventGtid(e.Info) : null };
      continue;
    }
    txn ??= { index: 0, touches: false, lastRows: -1, first: true, byGtid: false, gtid: null };
    txn.index += 1;
    if (type === 'Table_map' && e.Info.includes(table)) txn.touches = true;
    if (/^(Write|Update|Delete)_rows/i.test(type)) txn.lastRows = txn.index;
  }
  if (txn && pending(txn)) out.push(txn.gtid);
  return out;
}

async function nothingCapturedPending(
  db: DbConnection,
  spec: ConnectorSpec,
  from: BinlogPos,
  to: BinlogPos,
  eventsDone: number | null,
  emitted: () => Promise<Set<string>>,
): Promise<boolean> {
  const database = new URL(spec.url).pathname.replace(/^\//, '');
  const limit = 20_000;
  const events: BinlogEvent[] = [];
  try {
    const files =
      from.file === to.file
        ? [from.file]
        : (await db.query<{ Log_name: string }>('SHOW BINARY LOGS'))
            .map((l) => String(l.Log_name))
            .filter((f) => f >= from.file && f <= to.file)
            .sort();
    for (const file of files) {
      const rows = await db.query<BinlogEvent>(
        `SHOW BINLOG EVENTS IN '${file.replace(/'/g, "''")}' FROM ${file === from.file ? String(from.pos) : '4'} LIMIT ${limit - events.length + 1}`,
      );
      for (const r of rows) {
        if (file === to.file && BigInt(String(r.Pos)) >= to.pos) break;
        events.push(r);
      }
      if (events.length > limit) return false;
    }
  } catch {
    return false;
  }
  const pending = pendingTransactions(events, `${decodeURIComponent(database)}.${spec.table}`, eventsDone);
  if (pending.length === 0) return true;
  // The committed offset can trail the last transaction the connector wrote to Kafka (it is
  // committed with the records that follow): the topic's own source.gtid says what was written.
  if (pending.some((g) => g === null)) return false;
  try {
    const written = await emitted();
    return pending.every((g) => written.has(g!));
  } catch {
    return false;
  }
}

async function mysqlLag(
  db: DbConnection,
  spec: ConnectorSpec,
  connect: ConnectClient,
  waitMs: number,
  topic?: TopicRef,
): Promise<CaptureLag> {
  const start = await serverBinlog(db);
  const emitted = async (): Promise<Set<string>> => (topic ? recentSourceGtids(topic.brokers, topic.topic) : new Set<string>());
  const dbPosition = `${start.pos.file}:${start.pos.pos}${start.gtid ? ` gtid ${start.gtid}` : ''}`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const offsets = await connect.offsets(spec.name);
    const o = offsets?.[0]?.offset;
    if (!o || typeof o.file !== 'string' || o.pos === undefined) {
      const problem =
        offsets === null
          ? `Connect has no connector ${spec.name}`
          : `connector ${spec.name} has committed no binlog offset yet (snapshot running?)`;
      if (Date.now() >= deadline)
        return {
          databasePosition: dbPosition,
          connectorPosition: null,
          lagBytes: null,
          caughtUp: false,
          unconfirmedBytes: null,
          slotActive: null,
          problem,
        };
      await sleep(500);
      continue;
    }
    const at: BinlogPos = { file: o.file, pos: BigInt(String(o.pos)) };
    const gtids = typeof o.gtids === 'string' && o.gtids ? o.gtids : null;
    const connectorPosition = `${at.file}:${at.pos}${gtids ? ` gtid ${gtids}` : ''}`;
    const caughtUp =
      (start.gtid !== null && gtids !== null ? gtidsCover(gtids, start.gtid) : cmpPos(at, start.pos) >= 0) ||
      (await nothingCapturedPending(db, spec, at, start.pos, typeof o.event === 'number' ? o.event : null, emitted));
    if (caughtUp)
      return {
        databasePosition: dbPosition,
        connectorPosition,
        lagBytes: '0',
        caughtUp: true,
        unconfirmedBytes: null,
        slotActive: null,
        problem: null,
      };
    if (Date.now() >= deadline) {
      let sizes = new Map<string, bigint>();
      try {
        const logs = await db.query<{ Log_name: string; File_size: unknown }>('SHOW BINARY LOGS');
        sizes = new Map(logs.map((l) => [String(l.Log_name), BigInt(String(l.File_size))]));
      } catch {
        // Without the privilege only same-file distances are known.
      }
      const n = binlogBytesBetween(at, start.pos, sizes);
      // Debezium's offset points at the start of the transaction it resumes from: behind by at least one byte.
      const bytes = n === null ? null : n === 0n ? 1n : n;
      return {
        databasePosition: dbPosition,
        connectorPosition,
        lagBytes: bytes === null ? null : String(bytes),
        caughtUp: false,
        unconfirmedBytes: null,
        slotActive: null,
        problem:
          bytes === null ? 'binlog file sizes unknown (SHOW BINARY LOGS needs the BINLOG MONITOR or REPLICATION CLIENT privilege)' : null,
      };
    }
    await sleep(500);
  }
}

/** Measures one connector's lag (opens and closes its own database session). */
export interface TopicRef {
  /** Brokers as ulbridge reaches them. */
  brokers: string[];
  /** The connector's change topic. */
  topic: string;
}

export async function captureLag(
  dbUrl: string,
  spec: ConnectorSpec,
  connect: ConnectClient,
  waitMs = 10_000,
  topic?: TopicRef,
): Promise<CaptureLag> {
  let db: DbConnection | null = null;
  try {
    db = await openDb(dbUrl);
    return spec.kind === 'postgres' ? await postgresLag(db, spec, waitMs) : await mysqlLag(db, spec, connect, waitMs, topic);
  } catch (e) {
    const msg = redactUrl(e instanceof Error ? e.message : String(e));
    return {
      databasePosition: null,
      connectorPosition: null,
      lagBytes: null,
      caughtUp: false,
      unconfirmedBytes: null,
      slotActive: null,
      problem: `cannot measure: ${msg}`,
    };
  } finally {
    await db?.close().catch(() => undefined);
  }
}
