import mysql from 'mysql2';
import type { Connection } from 'mysql2/promise';
import type { RegistrationEvent, SourcePosition } from '../log/event.js';
import type { BindingVersion } from '../log/version.js';
import { CLABEL_MASK, packContactId } from '../opensips/contactId.js';
import { localDatetimeToUnix } from '../opensips/localTime.js';
import type { ApplySession, PlanContext } from './apply.js';
import { DeferredWrites } from './deferredWrites.js';
import { mysqlDialect } from '../db/dialect.js';
import { rowImageSelectList, toRowImage } from './rowImage.js';
import { gtidPositionSql, myIdent, myTable, type MysqlFlavor } from './mysqlState.js';
import type { AorState, BindingState, Plan, Planner } from './planner.js';
import { BINDING_STATE_COLUMNS, FIRST_RLABEL } from './stateSchema.js';
import { aorIdentityCache, type AorIdentity, type Target } from './target.js';
import { targetColumns, type CellValue } from './targetRow.js';

/**
 * The MySQL/MariaDB dialect of the applier (src/project/apply.ts): the same transaction as the
 * PostgreSQL session, in InnoDB:
 *
 *   SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION; offsets row locked; the
 *   batch's bindings read (one round trip)
 *   per segment: bindings read (unless begin's cover them), AOR rows locked (FOR UPDATE, in key
 *   order), new AORs inserted and their AUTO_INCREMENT record labels read back, plan, then
 *   multi-row DELETE / INSERT of target rows
 *   dead letters sent; held back (deferredWrites.ts): UPDATE ... JOIN of target rows and of aors,
 *   INSERT ... ON DUPLICATE KEY UPDATE of bindings; next offset and COMMIT (one round trip)
 *
 * On a shared target (a reverse sync reads it) the same steps also read the reverse-sync links of
 * new bindings and lock the current version of every row a plan updates or deletes (the conflict
 * rule, in apply.ts), and the COMMIT round trip records the transaction in own_tx: a marker
 * written before COMMIT and its GTID right after (commitOwnTx).
 *
 * Clashes with rows ulbridge did not write: MySQL has no INSERT ... ON CONFLICT DO NOTHING
 * RETURNING (INSERT IGNORE would also turn every other error into a silently truncated value), so
 * the INSERT is a plain one: a planned id that a row already holds fails it with ER_DUP_ENTRY,
 * InnoDB rolls back that statement only, and the ids of the rows left are then looked up in the
 * table; a binding whose id is held takes the AOR's next free contact label (planner.relabel),
 * after every label of that AOR held in the table is marked taken (a DB-only MySQL registrar takes
 * max(contact_id)+1, max+2, ...: a run of one AOR's labels), and the INSERT runs again. Clashes are
 * rare, so the lookup is not made before the first INSERT. A foreign row is therefore never
 * overwritten and never recorded as ours.
 *
 * The connection must be opened with multipleStatements, supportBigNumbers, bigNumberStrings,
 * dateStrings and charset utf8mb4 and have run MYSQL_SESSION_SETUP (src/project/mysqlStore.ts
 * does both). Values are sent as SQL literals: 64-bit numbers as bare integer literals from
 * bigint (a quoted number compared with a BIGINT column is compared as a double), text through
 * mysql2's escaping, keys of the state tables as _binary literals (exact UTF-8 bytes).
 */
export interface MysqlSessionOptions {
  /** Most rows per multi-row statement (default 1000); a statement is also cut at about 1 MiB of SQL. */
  rowsPerStatement?: number;
  /**
   * Whether username / domain are CHAR columns, which MySQL returns without trailing spaces, so
   * the registrar hashes the AOR without them (default true: OpenSIPS's MySQL schema).
   */
  charAorColumns?: { username: boolean; domain: boolean };
  /**
   * The server kind (default MariaDB), which says how a shared target's transaction learns its
   * GTID after COMMIT: MariaDB's @@last_gtid in the same round trip, MySQL's session tracker.
   */
  flavor?: MysqlFlavor;
}

type Row = Record<string, unknown>;

const MAX_RELABEL_ROUNDS = 64;
const MAX_STATEMENT_BYTES = 1 << 20;
const KEYS_PER_LOOKUP = 5000;
const ER_DUP_ENTRY = 1062;

export function mysqlSession(conn: Connection, target: Target, opts: MysqlSessionOptions = {}): ApplySession {
  const s = myIdent(target.stateSchema);
  const maxRows = opts.rowsPerStatement ?? 1000;
  const flavor = opts.flavor ?? 'mariadb';
  const where = (topic: string, partition: number): string => `topic = ${mysql.escape(topic)} AND \`partition\` = ${partition}`;
  const deferred = new DeferredWrites((sql) => conn.query(sql));
  return {
    target,
    async begin(topic, partition, bindingKeys) {
      // Isolation, BEGIN, the offsets lock and the bindings read after it in one round trip. The
      // no-op ON DUPLICATE KEY UPDATE takes the row's exclusive lock, so does the FOR UPDATE that
      // reads it.
      // MySQL reports a transaction's GTID only through the session tracker of its COMMIT reply.
      const track = target.shared && flavor === 'mysql' ? 'SET @@SESSION.session_track_gtids = OWN_GTID; ' : '';
      const reads = chunk(bindingKeys, KEYS_PER_LOOKUP).map((part) => bindingsSelect(s, part));
      const [sets] = await conn.query(
        `${track}SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION;
         INSERT INTO ${s}.offsets (topic, \`partition\`, next_offset, updated_at) VALUES (${mysql.escape(topic)}, ${partition}, 0, UTC_TIMESTAMP(3))
           ON DUPLICATE KEY UPDATE next_offset = next_offset;
         ${[`SELECT CAST(next_offset AS CHAR) AS n FROM ${s}.offsets WHERE ${where(topic, partition)} FOR UPDATE`, ...reads].join(';\n')}`,
      );
      const results = sets as unknown[];
      const offsets = results[results.length - reads.length - 1] as Row[];
      return { stored: BigInt(offsets[0]!.n as string), bindings: bindingStates(results.slice(results.length - reads.length) as Row[][]) };
    },
    async commit(topic, partition, next) {
      // The writes writePlan held back, the next offset and COMMIT in one round trip (a failing
      // statement ends the packet: COMMIT does not run).
      const writes = deferred.take();
      const offset = `UPDATE ${s}.offsets SET next_offset = ${next}, updated_at = UTC_TIMESTAMP(3) WHERE ${where(topic, partition)}; COMMIT`;
      if (next === null) await conn.query([...writes, 'COMMIT'].join('; '));
      else if (!target.shared) await conn.query([...writes, offset].join('; '));
      else await commitOwnTx(conn, s, flavor, writes, offset);
    },
    async rollback() {
      deferred.take();
      await conn.query('ROLLBACK');
    },
    flush: () => deferred.flush(),
    aorIdentity: () => mysqlAorIdentity(target, opts.charAorColumns ?? { username: true, domain: true }),
    loadBindings: (keys) => loadBindings(conn, s, keys),
    loadLinks: (keys) => loadLinks(conn, s, keys),
    async idHolders(ids) {
      const map = new Map<bigint, string>();
      for (const part of chunk(ids, KEYS_PER_LOOKUP)) {
        const rows = await query(
          conn,
          `SELECT CAST(contact_id AS CHAR) AS id, binding FROM ${s}.bindings WHERE contact_id IN (${part.join(', ')})`,
        );
        for (const r of rows) map.set(BigInt(text(r.id)), text(r.binding));
      }
      return map;
    },
    lockAors: (keys) => lockAors(conn, s, keys),
    async prepareNewAors(wanted, aors) {
      await createAors(conn, s, wanted, aors, maxRows);
      // Every AOR an UPSERT can create was inserted above, with its AUTO_INCREMENT label.
      return () => {
        throw new Error('record label asked for an AOR that was not created before planning');
      };
    },
    loadLiveClabels: (aors) => loadLiveClabels(conn, s, aors),
    lockedVersions: (ids) => lockedVersions(conn, target, ids),
    writePlan: (plan, planner, ctx) => writePlan(conn, target, maxRows, plan, planner, ctx, deferred),
    truncate: (event, partition) => truncate(conn, target, event, partition),
    async readImages(sel) {
      const list = rowImageSelectList(mysqlDialect, target, 't.');
      const table = myTable(target);
      const rows: Row[] = [];
      if ('ids' in sel) {
        for (const ids of chunk(sel.ids, KEYS_PER_LOOKUP))
          rows.push(
            ...(await query(conn, `SELECT ${list} FROM ${table} AS t WHERE t.contact_id IN (${ids.join(', ')}) ORDER BY t.contact_id`)),
          );
      } else {
        rows.push(
          ...(await query(
            conn,
            `SELECT ${list} FROM ${table} AS t JOIN ${s}.bindings AS b ON b.contact_id = t.contact_id
              WHERE b.source_name = ${bin(sel.source)} AND b.log_partition = ${sel.partition} AND b.in_target ORDER BY t.contact_id`,
          )),
        );
      }
      return rows.map((r) => toRowImage(r, target));
    },
  };
}

/**
 * COMMIT of a shared target's transaction, recorded in own_tx so reverse sync never copies its
 * change events back (docs/decisions.md, "Own writes on MySQL/MariaDB targets"). The server gives
 * a transaction its GTID at COMMIT, so no statement inside it can name it: the transaction writes
 * a marker row (the server, and the GTID position after its writes, which covers every transaction
 * committed before it and never itself), and the statement right after COMMIT sets the marker's
 * GTID. On MariaDB that statement reads @@last_gtid and travels in the same round trip as COMMIT,
 * so only a server crash between the two leaves a marker without GTID; MySQL reports the GTID in
 * COMMIT's reply (session_track_gtids), and the client writes it in the next round trip. A marker
 * left without GTID gets a ceiling from the next session (boundUnresolvedOwnTx).
 */
async function commitOwnTx(conn: Connection, s: string, flavor: MysqlFlavor, writes: string[], offsetAndCommit: string): Promise<void> {
  const marker = `INSERT INTO ${s}.own_tx (server_id, fence, committed_at) VALUES (@@server_id, ${gtidPositionSql(flavor)}, UTC_TIMESTAMP(3))`;
  // The marker after the transaction's writes (its fence is read after them), then offset, COMMIT.
  const statements = [...writes, marker, offsetAndCommit].join('; ');
  if (flavor === 'mariadb') {
    // LAST_INSERT_ID() is the marker's seq: the last AUTO_INCREMENT insert of this session (the
    // writes held back insert into tables without one).
    await conn.query(`${statements}; UPDATE ${s}.own_tx SET gtid = NULLIF(@@last_gtid, '') WHERE seq = LAST_INSERT_ID()`);
    return;
  }
  const [results] = await conn.query(statements);
  const list = results as unknown as Array<{ insertId?: number | string; stateChanges?: { gtids?: string[] } }>;
  const seq = String(list[writes.length]!.insertId);
  const gtid = list.at(-1)?.stateChanges?.gtids?.find((g) => g !== '') ?? null;
  if (gtid !== null) await conn.query(`UPDATE ${s}.own_tx SET gtid = ${mysql.escape(gtid)} WHERE seq = ${BigInt(seq)}`);
}

/** Reverse-sync links of bindings not yet in state: the registrar's row each legacy row copies. */
async function loadLinks(conn: Connection, s: string, keys: string[]): Promise<Map<string, bigint>> {
  const map = new Map<string, bigint>();
  for (const part of chunk(keys, KEYS_PER_LOOKUP)) {
    const rows = await query(
      conn,
      `SELECT binding, CAST(contact_id AS CHAR) AS id FROM ${s}.links WHERE binding IN (${part.map(bin).join(', ')})`,
    );
    for (const r of rows) map.set(text(r.binding), BigInt(text(r.id)));
  }
  return map;
}

/** The current version of these target rows, locked (the conflict rule of shared targets). */
async function lockedVersions(conn: Connection, target: Target, ids: bigint[]): Promise<Map<bigint, BindingVersion>> {
  const map = new Map<bigint, BindingVersion>();
  for (const part of chunk(ids, KEYS_PER_LOOKUP)) {
    const rows = await query(
      conn,
      `SELECT CAST(contact_id AS CHAR) AS id, callid, cseq, last_modified FROM ${myTable(target)} WHERE contact_id IN (${part.join(', ')}) FOR UPDATE`,
    );
    for (const r of rows) {
      map.set(BigInt(text(r.id)), {
        callid: text(r.callid),
        cseq: Number(r.cseq),
        lastModified: localDatetimeToUnix(text(r.last_modified), target.timeZone),
      });
    }
  }
  return map;
}

/**
 * aorIdentity as the registrar computes it from the row it reads back: MySQL returns CHAR values
 * without trailing spaces, so OpenSIPS hashes "alice", not "alice ".
 */
function mysqlAorIdentity(
  target: Target,
  char: { username: boolean; domain: boolean },
): (username: string, domain: string | null) => AorIdentity {
  const cached = aorIdentityCache(target);
  const strip = (v: string): string => v.replace(/ +$/, '');
  return (username, domain) => cached(char.username ? strip(username) : username, domain === null || !char.domain ? domain : strip(domain));
}

/**
 * The plan's writes. DELETEs, new AORs and INSERTs run now (an INSERT's clashes decide
 * relabelling); the UPDATE of target rows, the AOR counters and the binding states are held back
 * to travel with the COMMIT (deferredWrites.ts): the UPDATE never changes a contact_id, so running
 * it after the INSERTs changes nothing they see.
 */
async function writePlan(
  conn: Connection,
  target: Target,
  maxRows: number,
  plan: Plan,
  planner: Planner,
  ctx: PlanContext,
  deferred: DeferredWrites,
): Promise<void> {
  const s = myIdent(target.stateSchema);
  const table = myTable(target);
  const cols = targetColumns(target);

  for (const ids of chunk([...plan.deletes], KEYS_PER_LOOKUP)) {
    await conn.query(`DELETE FROM ${table} WHERE contact_id IN (${ids.join(', ')})`);
  }
  if (plan.updates.size > 0) {
    const sets = cols
      .slice(1)
      .map((c) => `t.${myIdent(c)} = u.${myIdent(c)}`)
      .join(', ');
    for (const part of statements([...plan.updates.values()], (r) => r.values.map(lit), maxRows)) {
      await deferred.add(`UPDATE ${table} AS t JOIN (${derivedTable(cols, part)}) AS u ON t.contact_id = u.contact_id SET ${sets}`);
    }
  }

  let pending = [...plan.inserts.keys()];
  // Bindings whose planned id must be looked up in the table before the next INSERT: none at
  // first (the INSERT itself finds a clash, ER_DUP_ENTRY), then those left by a failed statement.
  let unchecked: string[] = [];
  let lastDuplicate: Error | null = null;
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_RELABEL_ROUNDS) {
      throw new Error(
        `could not find free contact ids for ${pending.length} bindings after ${MAX_RELABEL_ROUNDS} rounds: the target table holds foreign rows with these AORs' labels`,
      );
    }
    const held = await existingIds(
      conn,
      table,
      unchecked.map((b) => plan.inserts.get(b)!.contactId),
    );
    if (held.size > 0) {
      const clashed = unchecked.filter((b) => held.has(plan.inserts.get(b)!.contactId));
      await markLabelsInTable(
        conn,
        table,
        clashed.map((b) => ctx.aors.get(plan.bindings.get(b)!.aor!)!),
        ctx.liveClabels,
      );
      for (const b of clashed) planner.relabel(b);
      unchecked = clashed;
      lastDuplicate = null;
      continue;
    }
    if (lastDuplicate !== null) throw lastDuplicate; // a duplicate on something other than contact_id
    const rows = pending.map((b) => plan.inserts.get(b)!.values.map(lit));
    let done = 0;
    try {
      for (const part of statements(rows, (r) => r, maxRows)) {
        await conn.query(
          `INSERT INTO ${table} (${cols.map(myIdent).join(', ')}) VALUES ${part.map((r) => `(${r.join(', ')})`).join(', ')}`,
        );
        done += part.length;
      }
      pending = [];
    } catch (e) {
      if ((e as { errno?: number }).errno !== ER_DUP_ENTRY) throw e;
      // A row already holds one of these ids: that statement was rolled back; look them up.
      pending = pending.slice(done);
      unchecked = pending;
      lastDuplicate = e as Error;
    }
  }

  // AORs: all exist by now (locked, or inserted by this transaction); write their counters.
  const aorRows = [...plan.aors.values()];
  for (const part of statements(aorRows, (a) => [bin(a.aor), String(a.nextClabel), a.wrapped ? '1' : '0'], maxRows)) {
    await deferred.add(
      `UPDATE ${s}.aors AS a JOIN (${derivedTable(['aor', 'next_clabel', 'wrapped'], part)}) AS u ON a.aor = u.aor
          SET a.next_clabel = u.next_clabel, a.wrapped = u.wrapped`,
    );
  }

  if (plan.bindings.size > 0) {
    const b = [...plan.bindings.values()];
    // contact_id is UNIQUE in bindings: an id this batch moves to another binding (a label reused
    // after its counter wrapped) is first taken off the binding that held it.
    const owner = new Map<bigint, string>();
    for (const x of b) if (x.contactId !== null) owner.set(x.contactId, x.binding);
    const moved = [...ctx.storedIds].filter(([binding, id]) => owner.has(id) && owner.get(id) !== binding).map(([binding]) => binding);
    if (moved.length > 0) await deferred.add(`UPDATE ${s}.bindings SET contact_id = NULL WHERE binding IN (${moved.map(bin).join(', ')})`);
    // The first assignment fails the statement (NOT NULL) if a row met another binding's
    // contact_id instead of its own key: ON DUPLICATE KEY UPDATE would otherwise update that row.
    const upsert = `ON DUPLICATE KEY UPDATE binding = IF(binding = VALUES(binding), binding, NULL),
         log_partition = VALUES(log_partition), aor = VALUES(aor), clabel = VALUES(clabel), contact_id = VALUES(contact_id),
         in_target = VALUES(in_target), pos_major = VALUES(pos_major), pos_minor = VALUES(pos_minor), pos_seq = VALUES(pos_seq),
         updated_at = VALUES(updated_at)`;
    for (const part of statements(b, bindingLiterals, maxRows)) {
      await deferred.add(
        `INSERT INTO ${s}.bindings (${BINDING_COLUMNS.join(', ')}) VALUES ${part.map((r) => `(${r.join(', ')})`).join(', ')} ${upsert}`,
      );
    }
  }
}

const BINDING_COLUMNS = [...BINDING_STATE_COLUMNS, 'updated_at'];

function bindingLiterals(x: BindingState): string[] {
  return [
    bin(x.binding),
    bin(x.sourceName),
    lit(x.sourceRowKey),
    lit(x.logPartition),
    x.aor === null ? 'NULL' : bin(x.aor),
    lit(x.clabel),
    lit(x.contactId),
    x.inTarget ? '1' : '0',
    lit(x.position.major),
    lit(x.position.minor),
    lit(x.position.seq),
    'UTC_TIMESTAMP(3)',
  ];
}

/**
 * TRUNCATE of a source: every binding of that source in this log partition is gone. Their target
 * rows are deleted and their positions move to the truncate's, so older events stay ignored.
 */
async function truncate(conn: Connection, target: Target, event: RegistrationEvent, partition: number): Promise<void> {
  const s = myIdent(target.stateSchema);
  const p: SourcePosition = event.source.position;
  const table = myTable(target);
  const mine = `b.source_name = ${bin(event.source.name)} AND b.log_partition = ${partition} AND b.contact_id IS NOT NULL`;
  await conn.query(
    `SELECT COUNT(*) AS n FROM ${s}.bindings AS b WHERE ${mine} FOR UPDATE;
     DELETE t FROM ${table} AS t JOIN ${s}.bindings AS b ON t.contact_id = b.contact_id WHERE ${mine} AND b.in_target;
     UPDATE ${s}.bindings AS b SET b.aor = NULL, b.clabel = NULL, b.contact_id = NULL, b.in_target = FALSE,
       b.pos_major = ${p.major}, b.pos_minor = ${p.minor}, b.pos_seq = ${p.seq}, b.updated_at = UTC_TIMESTAMP(3)
      WHERE ${mine}`,
  );
}

/** A SQL literal: bigint and number bare, text escaped (backslash escapes: see MYSQL_SESSION_SETUP). */
function lit(v: CellValue | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write the number ${v}`);
    return String(v);
  }
  return mysql.escape(v);
}

/** A VARBINARY key of the state tables: the exact UTF-8 bytes of the text. */
function bin(v: string): string {
  return `_binary${mysql.escape(v)}`;
}

/** SELECT ... UNION ALL SELECT ...: a derived table of rows of literals, columns named by the first. */
function derivedTable(cols: string[], rows: string[][]): string {
  return rows
    .map((r, i) => (i === 0 ? `SELECT ${r.map((v, c) => `${v} AS ${myIdent(cols[c]!)}`).join(', ')}` : `SELECT ${r.join(', ')}`))
    .join(' UNION ALL ');
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Rows of literals cut into statements of at most maxRows rows and about MAX_STATEMENT_BYTES. */
function statements<T>(items: T[], render: (x: T) => string[], maxRows: number): string[][][] {
  const out: string[][][] = [];
  let cur: string[][] = [];
  let bytes = 0;
  for (const item of items) {
    const r = render(item);
    const size = r.reduce((n, v) => n + v.length + 2, 2);
    if (cur.length > 0 && (cur.length >= maxRows || bytes + size > MAX_STATEMENT_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

async function query(conn: Connection, sql: string): Promise<Row[]> {
  const [rows] = await conn.query(sql);
  return rows as Row[];
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/** Ids of `ids` held by a row of the target table (committed rows, and this transaction's). */
async function existingIds(conn: Connection, table: string, ids: bigint[]): Promise<Set<bigint>> {
  const held = new Set<bigint>();
  for (const part of chunk(ids, KEYS_PER_LOOKUP)) {
    for (const r of await query(conn, `SELECT CAST(contact_id AS CHAR) AS id FROM ${table} WHERE contact_id IN (${part.join(', ')})`))
      held.add(BigInt(text(r.id)));
  }
  return held;
}

/**
 * Marks every contact label of these AORs that a row of the table holds as taken, so a relabel
 * skips a whole run of foreign ids at once (one range scan of the primary key per AOR).
 */
async function markLabelsInTable(conn: Connection, table: string, aors: AorState[], live: Map<string, Set<number>>): Promise<void> {
  const byPrefix = new Map<bigint, AorState>();
  for (const a of aors) byPrefix.set(packContactId({ aorhash: a.aorhash, rlabel: a.rlabel, clabel: 0 }) >> 14n, a);
  for (const part of chunk([...byPrefix.keys()], 500)) {
    const ranges = part.map((p) => `contact_id BETWEEN ${p << 14n} AND ${(p << 14n) + BigInt(CLABEL_MASK)}`).join(' OR ');
    for (const r of await query(conn, `SELECT CAST(contact_id AS CHAR) AS id FROM ${table} WHERE ${ranges}`)) {
      const id = BigInt(text(r.id));
      const a = byPrefix.get(id >> 14n)!;
      let set = live.get(a.aor);
      if (!set) live.set(a.aor, (set = new Set()));
      set.add(Number(id & BigInt(CLABEL_MASK)));
    }
  }
}

/** The state of these bindings (at most KEYS_PER_LOOKUP), as loadBindings and begin read it. */
function bindingsSelect(s: string, keys: string[]): string {
  return `SELECT binding, source_name, CAST(source_row_key AS CHAR) AS source_row_key, log_partition, aor, clabel,
                 CAST(contact_id AS CHAR) AS contact_id, in_target,
                 CAST(pos_major AS CHAR) AS pos_major, CAST(pos_minor AS CHAR) AS pos_minor, CAST(pos_seq AS CHAR) AS pos_seq
            FROM ${s}.bindings WHERE binding IN (${keys.map(bin).join(', ')})`;
}

async function loadBindings(conn: Connection, s: string, keys: string[]): Promise<Map<string, BindingState>> {
  const parts: Row[][] = [];
  for (const part of chunk(keys, KEYS_PER_LOOKUP)) parts.push(await query(conn, bindingsSelect(s, part)));
  return bindingStates(parts);
}

function bindingStates(parts: Row[][]): Map<string, BindingState> {
  const map = new Map<string, BindingState>();
  for (const rows of parts) {
    for (const r of rows) {
      const binding = text(r.binding);
      map.set(binding, {
        binding,
        sourceName: text(r.source_name),
        sourceRowKey: BigInt(text(r.source_row_key)),
        logPartition: Number(r.log_partition),
        aor: r.aor === null ? null : text(r.aor),
        clabel: r.clabel === null ? null : Number(r.clabel),
        contactId: r.contact_id === null ? null : BigInt(text(r.contact_id)),
        inTarget: Number(r.in_target) === 1,
        position: { major: BigInt(text(r.pos_major)), minor: BigInt(text(r.pos_minor)), seq: BigInt(text(r.pos_seq)) },
      });
    }
  }
  return map;
}

function aorFromRow(r: Row): AorState {
  const rlabel = Number(r.rlabel);
  if (rlabel < FIRST_RLABEL)
    throw new Error(`record label ${rlabel} of AOR ${text(r.aor)} is below ${FIRST_RLABEL}: the aors AUTO_INCREMENT was reset`);
  return {
    aor: text(r.aor),
    aorhash: Number(r.aorhash),
    slot: Number(r.slot),
    rlabel,
    nextClabel: Number(r.next_clabel),
    wrapped: Number(r.wrapped) === 1,
  };
}

/** Keys in the byte order of the VARBINARY index, so transactions lock AOR rows in one order. */
function byteOrder(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

async function lockAors(conn: Connection, s: string, keys: string[], into = new Map<string, AorState>()): Promise<Map<string, AorState>> {
  // Locked (in a fixed order, so two transactions cannot deadlock on them): two log partitions may
  // hold bindings of one AOR, and its next contact label must not be handed out twice. Under READ
  // COMMITTED an absent key locks nothing.
  for (const part of chunk(byteOrder(keys), KEYS_PER_LOOKUP)) {
    const rows = await query(
      conn,
      `SELECT aor, aorhash, slot, rlabel, next_clabel, wrapped FROM ${s}.aors WHERE aor IN (${part.map(bin).join(', ')}) ORDER BY aor FOR UPDATE`,
    );
    for (const r of rows) {
      const a = aorFromRow(r);
      into.set(a.aor, a);
    }
  }
  return into;
}

/**
 * Inserts the AORs this segment may create and reads back the record label AUTO_INCREMENT gave
 * each. Another partition's transaction may create one of them first (one use_domain=0 AOR can
 * span partitions): the INSERT then waits for it and fails with ER_DUP_ENTRY, only that statement
 * is rolled back, and the AOR, now committed, is locked and used as it is. (Usually the locking
 * read in lockAors already waited for that transaction.) An AOR whose events all turn out stale
 * keeps its row and label unused, as any AOR does after its last binding.
 */
async function createAors(
  conn: Connection,
  s: string,
  wanted: Map<string, AorIdentity>,
  aors: Map<string, AorState>,
  maxRows: number,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const missing = byteOrder([...wanted.keys()].filter((k) => !aors.has(k)));
    if (missing.length === 0) return;
    const ids = missing.map((k) => wanted.get(k)!);
    try {
      for (const part of statements(ids, (id) => [bin(id.key), String(id.aorhash), String(id.slot)], maxRows)) {
        const [sets] = await conn.query(
          `INSERT INTO ${s}.aors (aor, aorhash, slot, next_clabel, wrapped) VALUES ${part.map((r) => `(${r.join(', ')}, 0, FALSE)`).join(', ')};
           SELECT aor, aorhash, slot, rlabel, next_clabel, wrapped FROM ${s}.aors WHERE aor IN (${part.map((r) => r[0]).join(', ')})`,
        );
        for (const r of (sets as unknown[])[1] as Row[]) {
          const a = aorFromRow(r);
          aors.set(a.aor, a);
        }
      }
      return;
    } catch (e) {
      if ((e as { errno?: number }).errno !== ER_DUP_ENTRY || attempt >= 3) throw e;
      await lockAors(conn, s, missing, aors);
    }
  }
}

async function loadLiveClabels(conn: Connection, s: string, aors: AorState[]): Promise<Map<string, Set<number>>> {
  const map = new Map<string, Set<number>>();
  // An AOR's contact ids are contiguous, clabel in the low 14 bits: one range of the UNIQUE
  // (contact_id) index per AOR.
  for (const part of chunk(aors, 500)) {
    const ranges = part.map((a) => {
      const lo = packContactId({ aorhash: a.aorhash, rlabel: a.rlabel, clabel: 0 });
      return `contact_id BETWEEN ${lo} AND ${lo + BigInt(CLABEL_MASK)}`;
    });
    const keys = new Set(part.map((a) => a.aor));
    for (const r of await query(conn, `SELECT aor, clabel FROM ${s}.bindings WHERE ${ranges.join(' OR ')}`)) {
      const aor = text(r.aor);
      if (!keys.has(aor)) continue;
      let set = map.get(aor);
      if (!set) map.set(aor, (set = new Set()));
      set.add(Number(r.clabel));
    }
  }
  return map;
}
