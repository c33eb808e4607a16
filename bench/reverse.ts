import mysql from 'mysql2/promise';
import pg from 'pg';
import { createLocationTable } from '../src/demo/tables.js';
import type { CellValue } from '../src/project/targetRow.js';
import { ensureReverseState } from '../src/reverse/labels.js';
import { Workload } from '../src/demo/workload.js';
import { createLocationTableSql } from '../src/db/ddl.js';
import { postgresDialect } from '../src/db/dialect.js';
import { openDb } from '../src/db/open.js';
import { prepared } from '../src/db/pgPrepared.js';
import { encodeEvent } from '../src/log/codec.js';
import type { Registration, RegistrationEvent } from '../src/log/event.js';
import { releaseProfile } from '../src/opensips/releases.js';
import { applyBatch } from '../src/project/apply.js';
import type { LogMessage } from '../src/project/batch.js';
import { pgSession } from '../src/project/pgSession.js';
import { ensureStateSchema } from '../src/project/stateSchema.js';
import { compileTarget } from '../src/project/target.js';
import { applyReverseBatches, type TargetChange } from '../src/reverse/apply.js';
import { REVERSE_BATCH_CHANGES } from '../src/reverse/reverse.js';
import { LegacyTable } from '../src/reverse/legacyTable.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';
import { mariaDbServer } from './services.js';

/**
 * What reverse sync costs, measured in-process, side by side in one run:
 *   1. the projection's apply transaction into a plain target and into a shared one (the target
 *      of a reverse sync: own-transaction record, link lookup, conflict-rule reads), for N first
 *      registrations then N refreshes (N = 100k at --scale 1), in batches of 1,000 events;
 *   2. reverse sync's apply (applyReverseBatches, as the service runs it: slices of
 *      REVERSE_BATCH_CHANGES = 500 changes, one legacy transaction each, 3 slices per fetch, the
 *      next slice's legacy rows read ahead on a second connection) of M
 *      registrar first registrations then M refreshes (M = 40k) into a 2.1 and a 4.0 legacy table,
 *      in PostgreSQL and in MariaDB, against the floor of the bare writes it makes: the same
 *      set-based INSERTs/UPDATEs of the same rows (2.2+: the very contact ids reverse sync
 *      allocated) and INSERTs of links (2.2+: beside the legacy INSERT, as reverse sync writes
 *      them), one legacy transaction per slice, without the
 *      own-transaction check, the lookups, the version read, the decisions or label allocation
 *      (label state is neither read nor saved); and this process's CPU per change for each, since
 *      node's thread, not the databases, is where reverse sync spends more than its floor.
 * The target database is PostgreSQL (reverse sync reads MySQL/MariaDB targets too; the legacy
 * writes, which this compares, are the same either way). MariaDB:
 * $ULBRIDGE_BENCH_MYSQL_URL (a root URL), else a throwaway server (src/stack).
 */

const BATCH = 1000;
/** Changes per legacy transaction: the service's (src/reverse/reverse.ts). */
const REVERSE_BATCH = REVERSE_BATCH_CHANGES;
/**
 * Slices per fetch: the service applies a fetched batch's slices one after the other, each next
 * slice's target lookup overlapping the current slice's legacy writes (applyReverseBatches); its
 * 8 MiB fetches hold ~1,600 Debezium values with schemas (3-4 slices) and ~8,000 without (16): 3 is
 * the least overlap a backlog gets.
 */
const FETCH_SLICES = 3;

function registration(w: Workload, n: number, cseq: number, now: number): Registration {
  const r = w.registration(n);
  return {
    username: r.username.toLowerCase(),
    domain: r.domain,
    contact: r.contact,
    received: r.received,
    path: r.path,
    expires: BigInt(now + 3600),
    q: r.q,
    callid: `bench-${n}`,
    cseq,
    lastModified: BigInt(now + cseq),
    flags: 0,
    cflags: r.cflags,
    userAgent: r.userAgent,
    socket: r.socket,
    methods: r.methods,
    sipInstance: null,
    kvStore: null,
    attr: null,
  };
}

function logMessages(n: number, round: number, now: number): LogMessage[] {
  const w = new Workload(21, () => now);
  const out: LogMessage[] = [];
  for (let i = 0; i < n; i++) {
    const event: RegistrationEvent = {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '2.1',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: BigInt(i + 1),
        position: { major: BigInt(round * n + i + 1), minor: 1n, seq: 0n },
        snapshot: false,
        tsMs: 0n,
      },
      registration: registration(w, i, round + 1, now),
    };
    out.push({ offset: String(round * n + i), key: Buffer.from(`legacy:${i + 1}`), value: encodeEvent(event) });
  }
  return out;
}

async function projectRate(url: string, shared: boolean, rounds: LogMessage[][], now: number): Promise<number> {
  const target = compileTarget({
    name: 'b',
    db: url,
    table: 'location',
    release: '4.0',
    hashSize: 12,
    useDomain: false,
    signedness: 'signed',
    timeZone: 'UTC',
    stateSchema: 'ulbridge_b',
    shared,
  });
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('SET jit = off');
    for (const sql of createLocationTableSql(releaseProfile('4.0'), postgresDialect, 'location')) await c.query(sql);
    await ensureStateSchema(c, 'ulbridge_b');
    let events = 0;
    const started = process.hrtime.bigint();
    for (const messages of rounds) {
      for (let i = 0; i < messages.length; i += BATCH) {
        await applyBatch(pgSession(c, target), { topic: 'log', partition: 0, messages: messages.slice(i, i + BATCH), now });
        events += Math.min(BATCH, messages.length - i);
      }
    }
    return events / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await c.end();
  }
}

async function scratchDb(admin: pg.Client, adminUrl: string, name: string): Promise<string> {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A registrar change of binding i (user u<i>): first registration at cseq 1, refreshes above. */
function registrarChange(i: number, cseq: number, now: number): Registration {
  return {
    username: `u${i}`,
    domain: 'example.com',
    contact: `sip:u${i}@192.0.2.1`,
    received: null,
    path: null,
    expires: BigInt(now + 3600),
    q: 1,
    callid: `bench-${i}`,
    cseq,
    lastModified: BigInt(now + cseq),
    flags: 0,
    cflags: null,
    userAgent: 'ua',
    socket: null,
    methods: null,
    sipInstance: null,
    kvStore: null,
    attr: null,
  };
}

function registrarEvents(m: number, cseq: number, now: number): TargetChange[] {
  const out: TargetChange[] = [];
  for (let i = 1; i <= m; i++) {
    const event: RegistrationEvent = {
      op: 'UPSERT',
      source: {
        name: 'rollback',
        release: '4.0',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: 1099511627776n + BigInt(i),
        position: { major: BigInt(cseq * m + i), minor: 1n, seq: 0n },
        snapshot: false,
        tsMs: 0n,
      },
      registration: registrarChange(i, cseq, now),
    };
    out.push({ event, txId: BigInt(cseq * m + i) });
  }
  return out;
}

type LegacyKind = 'postgres' | 'mariadb';

/** The legacy contact ids reverse sync linked to these target rows, in their order. */
async function allocatedIds(t: pg.Client, changes: readonly TargetChange[]): Promise<bigint[]> {
  const { rows } = await t.query<{ c: string; l: string }>(
    'SELECT contact_id::text AS c, legacy_id::text AS l FROM ulbridge_r.links WHERE contact_id = ANY($1::bigint[])',
    [changes.map((c) => String(c.event.source.rowKey))],
  );
  const of = new Map(rows.map((r) => [r.c, BigInt(r.l)]));
  return changes.map((c) => {
    const id = of.get(String(c.event.source.rowKey));
    if (id === undefined) throw new Error(`reverse bench: no link for target row ${c.event.source.rowKey}`);
    return id;
  });
}

interface ReverseFigures {
  reverse: number;
  floor: number;
  /** CPU of this process (user + system) per change, µs: what the node thread spends, not the databases. */
  reverseCpu: number;
  floorCpu: number;
}

/** User + system CPU of this process since `from`, µs. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

/**
 * Reverse sync into one legacy table: M registrar first registrations (new legacy rows, links;
 * 2.2+: contact ids allocated) then M refreshes of them (updates by link), in slices of
 * REVERSE_BATCH, FETCH_SLICES at a time, against the floor: the same set-based INSERTs and UPDATEs
 * (LegacyTable's) of the same rows, and the links' INSERT, one transaction per slice, into a twin
 * table, with no own_tx check, no lookups, no version read, no conflict rule and no label
 * allocation.
 */
async function reverseRates(targetUrl: string, legacyUrl: string, release: '2.1' | '4.0', m: number, now: number): Promise<ReverseFigures> {
  const t = new pg.Client({ connectionString: targetUrl });
  await t.connect();
  const legacyDb = await openDb(legacyUrl);
  // Reverse sync's second legacy connection, as the service opens it: the next slice's rows are read on it.
  const legacyReader = await openDb(legacyUrl);
  try {
    await t.query('SET jit = off');
    await ensureStateSchema(t, 'ulbridge_r');
    await ensureReverseState(t, 'ulbridge_r');
    await createLocationTable(legacyUrl, release, 'location');
    await createLocationTable(legacyUrl, release, 'floor_location');
    const registrar = { release, hashSize: 9, useDomain: false, unsignedChar: false, timeZone: 'UTC' } as const;
    const legacy = new LegacyTable(legacyDb, 'location', registrar, legacyReader);
    const rounds = [registrarEvents(m, 1, now), registrarEvents(m, 2, now)];
    const floor = new LegacyTable(legacyDb, 'floor_location', registrar);
    await t.query('CREATE TABLE ulbridge_r.floor_links (LIKE ulbridge_r.links INCLUDING ALL)');
    const ids: bigint[] = [];
    /**
     * The bare writes of one batch: legacy INSERTs (round 0) or UPDATEs (round 1), and the links of
     * new rows (2.2+: written beside the INSERT, as reverse sync writes them).
     */
    async function floorBatch(round: number, changes: TargetChange[], i: number, allocated: readonly bigint[]): Promise<void> {
      const batch = changes.slice(i, i + REVERSE_BATCH);
      const part = batch.map((c) => c.event.registration!);
      await floor.begin();
      if (round === 1) await floor.updateRows(part.map((reg, j) => ({ id: ids[i + j]!, reg })));
      else {
        // The links of the new rows, as reverse sync writes them: one statement, prepared as its own is
        // (src/reverse/pgTarget.ts), committed before the legacy transaction.
        const writeLinks = (legacyIds: readonly bigint[]) =>
          t.query(
            prepared(
              `INSERT INTO ulbridge_r.floor_links (contact_id, binding, legacy_id)
               SELECT c, 'legacy:' || l, l FROM unnest($1::bigint[], $2::bigint[]) AS u(c, l)
               ON CONFLICT (contact_id) DO UPDATE SET binding = EXCLUDED.binding, legacy_id = EXCLUDED.legacy_id, created_at = now()`,
              [batch.map((c) => c.event.source.rowKey), legacyIds],
            ),
          );
        if (release === '2.1') {
          // Ids from the INSERT: the links follow it.
          const got = await floor.insertAutoIds(part);
          ids.push(...got);
          await writeLinks(got);
        } else {
          // The very contact ids reverse sync allocated for these rows (read from its links, untimed):
          // the floor writes the same rows into the same places of the key index, and, as reverse
          // sync does, their links beside the legacy INSERT.
          const rows = part.map((reg, j) => ({ contactId: allocated[j]!, values: floor.values(reg, allocated[j]!) as CellValue[] }));
          ids.push(...allocated);
          await Promise.all([floor.insertWithIds(rows), writeLinks(allocated)]);
        }
      }
      await floor.commit();
    }
    // Reverse sync and its floor alternate fetch by fetch (FETCH_SLICES slices), so both meet the same machine load.
    let reverseNs = 0n;
    let floorNs = 0n;
    let reverseCpu = 0;
    let floorCpu = 0;
    const fetchSize = FETCH_SLICES * REVERSE_BATCH;
    for (const [round, changes] of rounds.entries()) {
      for (let f = 0; f < changes.length; f += fetchSize) {
        const starts: number[] = [];
        for (let i = f; i < Math.min(f + fetchSize, changes.length); i += REVERSE_BATCH) starts.push(i);
        let started = process.hrtime.bigint();
        let cpu = process.cpuUsage();
        await applyReverseBatches(
          t,
          legacy,
          { stateSchema: 'ulbridge_r', sourceName: 'legacy', now },
          starts.map((i) => changes.slice(i, i + REVERSE_BATCH)),
        );
        reverseNs += process.hrtime.bigint() - started;
        reverseCpu += cpuSince(cpu);
        for (const i of starts) {
          // 2.2+: the contact ids reverse sync gave the new rows of this slice (not timed).
          const allocated = round === 0 && release !== '2.1' ? await allocatedIds(t, changes.slice(i, i + REVERSE_BATCH)) : [];
          started = process.hrtime.bigint();
          cpu = process.cpuUsage();
          await floorBatch(round, changes, i, allocated);
          floorNs += process.hrtime.bigint() - started;
          floorCpu += cpuSince(cpu);
        }
      }
    }
    const { rows } = await t.query('SELECT count(*)::int AS n FROM ulbridge_r.links');
    if (rows[0].n !== m) throw new Error(`reverse bench: ${rows[0].n} links, expected ${m}`);
    return {
      reverse: (2 * m) / (Number(reverseNs) / 1e9),
      floor: (2 * m) / (Number(floorNs) / 1e9),
      reverseCpu: reverseCpu / (2 * m),
      floorCpu: floorCpu / (2 * m),
    };
  } finally {
    await legacyDb.close();
    await legacyReader.close();
    await t.end();
  }
}

async function mysqlScratch(adminUrl: string, name: string): Promise<string> {
  const c = await mysql.createConnection({ uri: adminUrl });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await c.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function mysqlDrop(adminUrl: string, name: string): Promise<void> {
  const c = await mysql.createConnection({ uri: adminUrl });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await c.end();
  }
}

export const section: BenchSection = {
  name: 'reverse',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const adminUrl = await ctx.postgresUrl();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const n = Math.round(100_000 * ctx.scale);
    const m = Math.round(40_000 * ctx.scale);
    const now = Math.floor(Date.now() / 1000);
    const names = ['ulbridge_bench_plain', 'ulbridge_bench_shared'];
    const mariadb = await mariaDbServer(ctx);
    const mysqlNames: string[] = [];
    const figures: BenchFigure[] = [];
    try {
      ctx.log(
        `reverse: ${n.toLocaleString('en-US')} first registrations + ${n.toLocaleString('en-US')} refreshes through the apply transaction, plain then shared target`,
      );
      const rounds = [logMessages(n, 0, now), logMessages(n, 1, now)];
      const plain = await projectRate(await scratchDb(admin, adminUrl, names[0]!), false, rounds, now);
      const shared = await projectRate(await scratchDb(admin, adminUrl, names[1]!), true, rounds, now);
      figures.push(
        {
          figure: 'projection apply, plain target',
          value: plain,
          unit: 'events/s',
          note: `in-process applyBatch, ${2 * n} events (inserts then refreshes), batches of ${BATCH}`,
        },
        {
          figure: 'projection apply, shared target (reverse sync on)',
          value: shared,
          unit: 'events/s',
          note: 'same events: own_tx row, link lookup, conflict-rule reads',
        },
        { figure: 'shared / plain', value: shared / plain, unit: 'ratio', note: 'cost of making a target shared, same run' },
      );
      const side: Array<{ kind: LegacyKind; release: '2.1' | '4.0'; f: ReverseFigures }> = [];
      for (const kind of ['postgres', 'mariadb'] as const) {
        for (const release of ['2.1', '4.0'] as const) {
          ctx.log(
            `reverse: ${m.toLocaleString('en-US')} registrar registrations + ${m.toLocaleString('en-US')} refreshes into a ${release} legacy table in ${kind}, and the bare writes`,
          );
          const tag = `${kind === 'postgres' ? 'pg' : 'my'}_${release.replace('.', '')}`;
          const targetName = `ulbridge_bench_rev_target_${tag}`;
          names.push(targetName);
          const targetUrl = await scratchDb(admin, adminUrl, targetName);
          let legacyUrl: string;
          if (kind === 'postgres') {
            names.push(`ulbridge_bench_rev_legacy_${tag}`);
            legacyUrl = await scratchDb(admin, adminUrl, names.at(-1)!);
          } else {
            mysqlNames.push(`ulbridge_bench_rev_legacy_${tag}`);
            legacyUrl = await mysqlScratch(mariadb.url, mysqlNames.at(-1)!);
          }
          side.push({ kind, release, f: await reverseRates(targetUrl, legacyUrl, release, m, now) });
        }
      }
      const label = (kind: LegacyKind) => (kind === 'postgres' ? 'PostgreSQL' : 'MariaDB');
      for (const { kind, release, f } of side) {
        figures.push(
          {
            figure: `reverse sync -> ${release} legacy, ${label(kind)}`,
            value: f.reverse,
            unit: 'changes/s',
            note: `applyReverseBatches, ${m} new + ${m} refreshes, slices of ${REVERSE_BATCH}, ${FETCH_SLICES} per fetch${release === '4.0' ? ', contact ids allocated' : ''}`,
          },
          {
            figure: `floor: its bare writes, ${label(kind)}`,
            value: f.floor,
            unit: 'changes/s',
            note: `same legacy INSERTs/UPDATEs of the same rows + link INSERTs${release === '4.0' ? ' (beside the INSERT)' : ''}, 1 tx per slice, alternating with reverse${kind === 'mariadb' && release === '4.0' ? ' (MySQL INSERT includes its id lookup)' : ''}`,
          },
          { figure: `reverse / floor, ${release} ${label(kind)}`, value: f.reverse / f.floor, unit: 'ratio', note: 'same run' },
          {
            figure: `node CPU per change, reverse sync / floor, ${release} ${label(kind)}`,
            value: f.reverseCpu / f.floorCpu,
            unit: 'ratio',
            note: `${f.reverseCpu.toFixed(1)} / ${f.floorCpu.toFixed(1)} µs: this process's user + system CPU (the databases' is not in it)`,
          },
        );
      }
      return figures;
    } finally {
      for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
      for (const name of mysqlNames) await mysqlDrop(mariadb.url, name).catch(() => undefined);
      await mariadb.stop();
    }
  },
};
