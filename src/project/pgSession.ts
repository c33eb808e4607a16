import type pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { RegistrationEvent, SourcePosition } from '../log/event.js';
import type { BindingVersion } from '../log/version.js';
import { CLABEL_MASK, packContactId } from '../opensips/contactId.js';
import { localDatetimeToUnix } from '../opensips/localTime.js';
import { postgresDialect } from '../db/dialect.js';
import { columnArrays } from '../db/pgArray.js';
import { DeferredWrites } from './deferredWrites.js';
import { executeSql, prepared, runPrepared } from '../db/pgPrepared.js';
import type { ApplySession } from './apply.js';
import { rowImageSelectList, toRowImage } from './rowImage.js';
import type { AorState, BindingState, Plan, Planner } from './planner.js';
import { BINDING_STATE_COLUMNS, ident, qualified } from './stateSchema.js';
import { aorIdentityCache, type Target } from './target.js';
import { targetColumnPgTypes, targetColumns, type CellValue } from './targetRow.js';

export interface PgSessionOptions {
  /** From this many rows on, a write goes through COPY into a stage table instead of UNNEST arrays (default 200). */
  copyMinRows?: number;
}

const MAX_RELABEL_ROUNDS = 64;

/**
 * The PostgreSQL dialect of the applier (src/project/apply.ts), on one client:
 *
 *   BEGIN, the offsets row locked and the batch's bindings read (one round trip: a simple query,
 *   the read an EXECUTE of loadBindings' prepared statement once this connection holds it)
 *   per segment: bindings read (unless begin's cover them), AOR rows locked (FOR UPDATE, in key
 *   order), record labels drawn from the rlabel sequence, plan, then DELETE / INSERT ... ON
 *   CONFLICT (contact_id) DO NOTHING RETURNING (only clashing ids come back and are relabelled);
 *   rows come from UNNEST arrays, or from copyMinRows rows on through COPY into TEMP stage tables
 *   the UPDATE ... FROM of target rows, aors and bindings upserted: from UNNEST arrays held back
 *   (deferredWrites.ts) as EXECUTE of their prepared statements, from a stage sent at once
 *   next offset (+ own_tx xid on a shared target) and COMMIT, after what was held back (one round trip)
 *
 * Statements with parameters run as named prepared statements (src/db/pgPrepared.ts), except the
 * rare ones whose best plan depends on their values (row images by source, live labels, TRUNCATE).
 */
export function pgSession(client: pg.ClientBase, target: Target, opts: PgSessionOptions = {}): ApplySession {
  const s = ident(target.stateSchema);
  const copyMinRows = opts.copyMinRows ?? COPY_MIN_ROWS;
  const where = (topic: string, partition: number): string => `topic = ${postgresDialect.literal(topic)} AND partition = ${partition}`;
  const deferred = new DeferredWrites((sql) => client.query(sql));
  return {
    target,
    async begin(topic, partition, bindingKeys) {
      const stages = stagesOf.get(client);
      if (stages) for (const name of stages.keys()) stages.set(name, false); // emptied by the last COMMIT
      // The no-op DO UPDATE locks the row, as SELECT ... FOR UPDATE would; the bindings are read
      // after it, in the same round trip, by loadBindings' prepared statement once this
      // connection holds it (until then loadBindings reads them).
      const execute = bindingKeys.length === 0 ? null : executeSql(client, loadBindingsStatement(s, bindingKeys));
      const read = execute === null ? '' : `; ${execute}`;
      const results = (await client.query(
        `BEGIN; INSERT INTO ${s}.offsets (topic, partition, next_offset) VALUES (${postgresDialect.literal(topic)}, ${partition}, 0)
         ON CONFLICT (topic, partition) DO UPDATE SET next_offset = ${s}.offsets.next_offset RETURNING next_offset::text AS n${read}`,
      )) as unknown as pg.QueryResult[];
      return { stored: BigInt(results[1]!.rows[0].n as string), bindings: execute === null ? null : bindingStates(results[2]!.rows) };
    },
    async commit(topic, partition, next) {
      // Shared targets: this transaction's xid, so reverse sync knows its change events for ulbridge's.
      const ownTx = target.shared
        ? [`INSERT INTO ${s}.own_tx (xid) VALUES (txid_current() % 4294967296) ON CONFLICT (xid) DO UPDATE SET committed_at = now()`]
        : [];
      const offset =
        next === null
          ? []
          : [...ownTx, `UPDATE ${s}.offsets SET next_offset = ${next}, updated_at = now() WHERE ${where(topic, partition)}`];
      // The writes writePlan held back run first: a failing one skips the rest, COMMIT included.
      await client.query([...deferred.take(), ...offset, 'COMMIT'].join('; '));
    },
    async rollback() {
      deferred.take();
      // Stage tables created in this transaction are gone with it.
      stagesOf.delete(client);
      await client.query('ROLLBACK');
    },
    flush: () => deferred.flush(),
    aorIdentity: () => aorIdentityCache(target),
    loadBindings: (keys) => loadBindings(client, s, keys),
    loadLinks: (keys) => loadLinks(client, s, keys),
    async idHolders(ids) {
      if (ids.length === 0) return new Map();
      const { rows } = await client.query(
        prepared(`SELECT contact_id::text AS id, binding FROM ${s}.bindings WHERE contact_id = ANY($1::bigint[])`, [ids.map(String)]),
      );
      return new Map(rows.map((r) => [BigInt(r.id as string), r.binding as string]));
    },
    lockAors: (keys) => loadAors(client, s, keys),
    async prepareNewAors(wanted, aors) {
      const missing = [...wanted.keys()].filter((k) => !aors.has(k)).length;
      const rlabels =
        missing === 0
          ? []
          : (
              await client.query(
                prepared(`SELECT nextval('${target.stateSchema.replace(/'/g, "''")}.rlabel_seq')::text AS r FROM generate_series(1, $1)`, [
                  missing,
                ]),
              )
            ).rows.map((r) => Number(r.r));
      // Label numbers drawn but not used (an AOR that turned out unloadable) are simply skipped.
      let next = 0;
      return () => {
        const r = rlabels[next++];
        if (r === undefined) throw new Error('record label pool exhausted: planner asked for more new AORs than it announced');
        return r;
      };
    },
    loadLiveClabels: (aors) => loadLiveClabels(client, s, aors),
    async lockedVersions(ids) {
      const { rows } = await client.query(
        prepared(
          `SELECT contact_id::text AS id, callid, cseq, last_modified::text AS lm FROM ${qualified(target.table)} WHERE contact_id = ANY($1::bigint[]) FOR UPDATE`,
          [ids.map(String)],
        ),
      );
      return new Map<bigint, BindingVersion>(
        rows.map((r) => [
          BigInt(r.id as string),
          { callid: r.callid as string, cseq: r.cseq as number, lastModified: localDatetimeToUnix(r.lm as string, target.timeZone) },
        ]),
      );
    },
    writePlan: (plan, planner) => writePlan(client, target, copyMinRows, plan, planner, deferred),
    truncate: (event, partition) => truncate(client, target, event, partition),
    async readImages(sel) {
      const list = rowImageSelectList(postgresDialect, target, 't.');
      const { rows } =
        'ids' in sel
          ? await client.query(
              `SELECT ${list} FROM ${qualified(target.table)} AS t WHERE t.contact_id = ANY($1::bigint[]) ORDER BY t.contact_id`,
              [sel.ids.map(String)],
            )
          : await client.query(
              `SELECT ${list} FROM ${qualified(target.table)} AS t JOIN ${s}.bindings AS b ON b.contact_id = t.contact_id
                WHERE b.source_name = $1 AND b.log_partition = $2 AND b.in_target ORDER BY t.contact_id`,
              [sel.source, sel.partition],
            );
      return rows.map((r: Record<string, unknown>) => toRowImage(r, target));
    },
  };
}

/**
 * The plan's writes. DELETEs, INSERTs (an INSERT's clashes decide relabelling) and new AORs run
 * now; the UPDATE of target rows, the AOR counters and the binding states, when below copyMinRows
 * rows, are held back to travel with the COMMIT (deferredWrites.ts): the UPDATE never changes a
 * contact_id, so running it after the INSERTs changes nothing they see.
 */
async function writePlan(
  client: pg.ClientBase,
  target: Target,
  copyMinRows: number,
  plan: Plan,
  planner: Planner,
  deferred: DeferredWrites,
): Promise<void> {
  const s = ident(target.stateSchema);
  const table = qualified(target.table);
  const cols = targetColumns(target);
  const types = targetColumnPgTypes(target);
  /**
   * A statement over rowsFrom's rows: from UNNEST arrays it is held back as an EXECUTE of its
   * prepared statement once this connection has prepared it (its first run here prepares it);
   * from a stage (copyMinRows rows or more) it is sent now, as it always was.
   */
  const later = async (text: string, rows: { params: unknown[][] }): Promise<void> => {
    if (rows.params.length === 0) {
      await client.query(text);
      return;
    }
    const config = prepared(text, rows.params);
    const execute = executeSql(client, config);
    if (execute !== null) await deferred.add(execute);
    else await runPrepared(client, config);
  };

  if (plan.deletes.size > 0) {
    await client.query(prepared(`DELETE FROM ${table} WHERE contact_id = ANY($1::bigint[])`, [[...plan.deletes].map(String)]));
  }
  if (plan.updates.size > 0) {
    const sets = cols
      .slice(1)
      .map((c) => `${ident(c)} = u.${ident(c)}`)
      .join(', ');
    // Measured on 100k rows: 530 updated rows took 28 ms from UNNEST arrays, 6.5 ms from a stage.
    const rows = await rowsFrom(
      client,
      copyMinRows,
      [...plan.updates.values()].map((r) => r.values),
      cols,
      types,
      () => targetStage(client, target, 'updates'),
    );
    await later(`UPDATE ${table} AS t SET ${sets} FROM ${rows.from} WHERE t.contact_id = u.contact_id`, rows);
  }
  let pending = [...plan.inserts.keys()];
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_RELABEL_ROUNDS) {
      throw new Error(
        `could not find free contact ids for ${pending.length} bindings after ${MAX_RELABEL_ROUNDS} rounds: the target table holds foreign rows with these AORs' labels`,
      );
    }
    const rows = pending.map((b) => plan.inserts.get(b)!);
    // Only the ids that clashed with a row already there come back (normally none).
    let clashed: Set<string>;
    if (rows.length >= copyMinRows) {
      const stage = await targetStage(client, target, 'inserts');
      await copyInto(
        client,
        stage,
        cols,
        rows.map((r) => r.values),
      );
      const res = await client.query(
        `WITH ins AS (
           INSERT INTO ${table} (${cols.map(ident).join(', ')}) SELECT ${cols.map(ident).join(', ')} FROM ${stage}
           ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id
         ) SELECT s.contact_id::text AS id FROM ${stage} AS s WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.contact_id = s.contact_id)`,
      );
      clashed = new Set(res.rows.map((r) => r.id as string));
    } else {
      const inserted = await client.query(
        prepared(
          `INSERT INTO ${table} (${cols.map(ident).join(', ')}) SELECT * FROM ${unnestFrom(cols, types)} ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id::text AS id`,
          columnArrays(
            rows.map((r) => r.values),
            cols.length,
          ),
        ),
      );
      const done = new Set(inserted.rows.map((r) => r.id as string));
      clashed = new Set(rows.map((r) => r.contactId.toString()).filter((id) => !done.has(id)));
    }
    pending = pending.filter((b) => clashed.has(plan.inserts.get(b)!.contactId.toString()));
    for (const b of pending) planner.relabel(b);
  }
  const created = [...plan.aors.values()].filter((a) => plan.createdAors.has(a.aor));
  const updated = [...plan.aors.values()].filter((a) => !plan.createdAors.has(a.aor));
  if (created.length > 0) {
    // No ON CONFLICT: if another transaction created the same AOR meanwhile (two log partitions
    // can hold one use_domain=0 AOR), this one fails and is retried, and then reuses its rlabel.
    // Not held back: the row, inserted now, makes that other transaction wait for this one.
    await client.query(
      prepared(
        `INSERT INTO ${s}.aors (aor, aorhash, slot, rlabel, next_clabel, wrapped)
         SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[], $5::int[], $6::bool[])`,
        [
          created.map((x) => x.aor),
          created.map((x) => x.aorhash),
          created.map((x) => x.slot),
          created.map((x) => x.rlabel),
          created.map((x) => x.nextClabel),
          created.map((x) => x.wrapped),
        ],
      ),
    );
  }
  if (updated.length > 0) {
    const rows = await rowsFrom(
      client,
      copyMinRows,
      updated.map((x) => [x.aor, x.nextClabel, x.wrapped]),
      AOR_UPDATE_COLUMNS,
      AOR_UPDATE_TYPES,
      () => stageTable(client, 'ulbridge_aors_stage', stageDefinition(AOR_UPDATE_COLUMNS, AOR_UPDATE_TYPES)),
    );
    await later(`UPDATE ${s}.aors AS a SET next_clabel = u.next_clabel, wrapped = u.wrapped FROM ${rows.from} WHERE a.aor = u.aor`, rows);
  }
  if (plan.bindings.size > 0) {
    const b = [...plan.bindings.values()];
    const upsert = `ON CONFLICT (binding) DO UPDATE SET log_partition = EXCLUDED.log_partition, aor = EXCLUDED.aor, clabel = EXCLUDED.clabel,
         contact_id = EXCLUDED.contact_id, in_target = EXCLUDED.in_target, pos_major = EXCLUDED.pos_major,
         pos_minor = EXCLUDED.pos_minor, pos_seq = EXCLUDED.pos_seq, updated_at = now()`;
    const rows = await rowsFrom(client, copyMinRows, b.map(bindingValues), BINDING_STATE_COLUMNS, BINDING_TYPES, () =>
      stageTable(client, 'ulbridge_bindings_stage', stageDefinition(BINDING_STATE_COLUMNS, BINDING_TYPES)),
    );
    await later(`INSERT INTO ${s}.bindings (${BINDING_STATE_COLUMNS.join(', ')}) SELECT * FROM ${rows.from} ${upsert}`, rows);
  }
}

const BINDING_TYPES = ['text', 'text', 'bigint', 'int', 'text', 'int', 'bigint', 'bool', 'bigint', 'bigint', 'bigint'];
const AOR_UPDATE_COLUMNS = ['aor', 'next_clabel', 'wrapped'];
const AOR_UPDATE_TYPES = ['text', 'int', 'bool'];

function bindingValues(x: BindingState): Array<CellValue | boolean> {
  return [
    x.binding,
    x.sourceName,
    x.sourceRowKey,
    x.logPartition,
    x.aor,
    x.clabel,
    x.contactId,
    x.inTarget,
    x.position.major,
    x.position.minor,
    x.position.seq,
  ];
}

/**
 * Below this many rows a write sends UNNEST arrays (fewer round trips); from it on, COPY (text)
 * into a stage table and one set-based statement from there (less CPU on both sides).
 */
const COPY_MIN_ROWS = 200;

/**
 * Stage tables (TEMP ... ON COMMIT DELETE ROWS, per connection) this connection has, created once;
 * true = already filled in the current transaction, so emptied before its next use.
 */
const stagesOf = new WeakMap<pg.ClientBase, Map<string, boolean>>();

async function stageTable(client: pg.ClientBase, name: string, definition: string): Promise<string> {
  let stages = stagesOf.get(client);
  if (!stages) stagesOf.set(client, (stages = new Map()));
  const qname = `pg_temp.${ident(name)}`;
  const used = stages.get(name);
  if (used === undefined) {
    await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${ident(name)} ${definition} ON COMMIT DELETE ROWS`);
    await client.query(`TRUNCATE ${qname}`);
  } else if (used) {
    await client.query(`TRUNCATE ${qname}`);
  }
  stages.set(name, true);
  return qname;
}

/** A stage's column list: `(name type, ...)`. */
function stageDefinition(cols: readonly string[], types: string[]): string {
  return `(${cols.map((c, i) => `${ident(c)} ${types[i]}`).join(', ')})`;
}

/**
 * The rows of a set-based statement, as its FROM item `u`: below copyMinRows rows UNNEST arrays
 * sent with the statement (fewer round trips), from it on COPYed into a stage (less CPU on both
 * sides, and the planner joins them by key instead of hashing a whole table).
 */
async function rowsFrom(
  client: pg.ClientBase,
  copyMinRows: number,
  rows: unknown[][],
  cols: readonly string[],
  types: string[],
  stage: () => Promise<string>,
): Promise<{ from: string; params: unknown[][] }> {
  if (rows.length < copyMinRows) return { from: unnestFrom(cols, types), params: columnArrays(rows, cols.length) };
  const table = await stage();
  await copyInto(client, table, cols, rows);
  return { from: `${table} AS u`, params: [] };
}

/**
 * A stage of a target table: its columns (LIKE, without defaults or indexes); one for inserts and
 * one for updates, so a transaction that writes both does not empty a stage between them.
 */
function targetStage(client: pg.ClientBase, target: Target, use: 'inserts' | 'updates'): Promise<string> {
  const key = `${target.table}|${targetColumns(target).join(',')}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return stageTable(client, `ulbridge_${use}_stage_${h.toString(16)}`, `(LIKE ${qualified(target.table)})`);
}

const COPY_SPECIAL = /[\\\t\n\r]/;

function copyText(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const text = typeof v === 'string' ? v : String(v);
  return COPY_SPECIAL.test(text) ? text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : text;
}

/** COPY (text format) of rows into a table, in 1 MiB-ish chunks. */
async function copyInto(client: pg.ClientBase, table: string, cols: readonly string[], rows: unknown[][]): Promise<void> {
  function* chunks(): Generator<string> {
    let chunk = '';
    for (const row of rows) {
      let line = '';
      for (let c = 0; c < row.length; c++) line += (c === 0 ? '' : '\t') + copyText(row[c]);
      chunk += line + '\n';
      if (chunk.length >= 1 << 20) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk.length > 0) yield chunk;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${table} (${cols.map(ident).join(', ')}) FROM STDIN`)));
}

/**
 * TRUNCATE of a source: every binding of that source in this log partition is gone. Their target
 * rows are deleted and their positions move to the truncate's, so older events stay ignored.
 */
async function truncate(client: pg.ClientBase, target: Target, event: RegistrationEvent, partition: number): Promise<void> {
  const s = ident(target.stateSchema);
  const p: SourcePosition = event.source.position;
  const table = qualified(target.table);
  await client.query(
    `WITH gone AS (
       SELECT binding, contact_id, in_target FROM ${s}.bindings
        WHERE source_name = $1 AND log_partition = $2 AND contact_id IS NOT NULL FOR UPDATE
     ), removed AS (
       DELETE FROM ${table} WHERE contact_id IN (SELECT contact_id FROM gone WHERE in_target)
     )
     UPDATE ${s}.bindings AS b SET aor = NULL, clabel = NULL, contact_id = NULL, in_target = false,
       pos_major = $3, pos_minor = $4, pos_seq = $5, updated_at = now()
      FROM gone WHERE b.binding = gone.binding`,
    [event.source.name, partition, p.major.toString(), p.minor.toString(), p.seq.toString()],
  );
}

function unnestFrom(cols: readonly string[], types: string[]): string {
  const args = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  return `unnest(${args}) AS u(${cols.map(ident).join(', ')})`;
}

/** The bindings' state, as loadBindings reads it (and begin, as an EXECUTE of it). */
function loadBindingsStatement(s: string, keys: string[]): pg.QueryConfig {
  return prepared(
    `SELECT binding, source_name, source_row_key::text, log_partition, aor, clabel, contact_id::text, in_target,
            pos_major::text, pos_minor::text, pos_seq::text
       FROM ${s}.bindings WHERE binding = ANY($1::text[])`,
    [keys],
  );
}

async function loadBindings(client: pg.ClientBase, s: string, keys: string[]): Promise<Map<string, BindingState>> {
  const { rows } = await runPrepared(client, loadBindingsStatement(s, keys));
  return bindingStates(rows);
}

function bindingStates(rows: pg.QueryResult['rows']): Map<string, BindingState> {
  const map = new Map<string, BindingState>();
  for (const r of rows) {
    map.set(r.binding, {
      binding: r.binding,
      sourceName: r.source_name,
      sourceRowKey: BigInt(r.source_row_key),
      logPartition: r.log_partition,
      aor: r.aor,
      clabel: r.clabel,
      contactId: r.contact_id === null ? null : BigInt(r.contact_id),
      inTarget: r.in_target,
      position: { major: BigInt(r.pos_major), minor: BigInt(r.pos_minor), seq: BigInt(r.pos_seq) },
    });
  }
  return map;
}

/** Reverse-sync links of bindings not yet in state: the registrar's row each legacy row copies. */
async function loadLinks(client: pg.ClientBase, s: string, keys: string[]): Promise<Map<string, bigint>> {
  if (keys.length === 0) return new Map();
  const { rows } = await client.query(
    prepared(`SELECT binding, contact_id::text AS id FROM ${s}.links WHERE binding = ANY($1::text[])`, [keys]),
  );
  return new Map(rows.map((r) => [r.binding as string, BigInt(r.id as string)]));
}

async function loadAors(client: pg.ClientBase, s: string, keys: string[]): Promise<Map<string, AorState>> {
  const map = new Map<string, AorState>();
  if (keys.length === 0) return map;
  // Locked (in a fixed order, so two transactions cannot deadlock on them): two log partitions may
  // hold bindings of one AOR, and its next contact label must not be handed out twice.
  const { rows } = await client.query(
    prepared(
      `SELECT aor, aorhash, slot, rlabel::text, next_clabel, wrapped FROM ${s}.aors WHERE aor = ANY($1::text[]) ORDER BY aor FOR UPDATE`,
      [keys],
    ),
  );
  for (const r of rows)
    map.set(r.aor, {
      aor: r.aor,
      aorhash: r.aorhash,
      slot: r.slot,
      rlabel: Number(r.rlabel),
      nextClabel: r.next_clabel,
      wrapped: r.wrapped,
    });
  return map;
}

async function loadLiveClabels(client: pg.ClientBase, s: string, aors: AorState[]): Promise<Map<string, Set<number>>> {
  const map = new Map<string, Set<number>>();
  if (aors.length === 0) return map;
  // An AOR's contact ids are contiguous, clabel in the low 14 bits: one range scan of the UNIQUE
  // (contact_id) index per AOR. OFFSET 0 keeps the subquery a per-AOR index scan (flattened, the
  // planner would rather hash-join on aor over the whole table).
  const lo = aors.map((a) => packContactId({ aorhash: a.aorhash, rlabel: a.rlabel, clabel: 0 }).toString());
  const { rows } = await client.query(
    `SELECT r.aor, b.clabel FROM unnest($1::text[], $2::bigint[]) AS r(aor, lo)
       CROSS JOIN LATERAL (SELECT aor, clabel FROM ${s}.bindings WHERE contact_id BETWEEN r.lo AND r.lo + ${CLABEL_MASK} OFFSET 0) AS b
      WHERE b.aor = r.aor`,
    [aors.map((a) => a.aor), lo],
  );
  for (const r of rows) {
    let set = map.get(r.aor);
    if (!set) map.set(r.aor, (set = new Set()));
    set.add(r.clabel);
  }
  return map;
}
