import pg from 'pg';
import { Workload } from '../src/demo/workload.js';
import { createLocationTableSql } from '../src/db/ddl.js';
import { postgresDialect } from '../src/db/dialect.js';
import { openDb } from '../src/db/open.js';
import { encodeEvent } from '../src/log/codec.js';
import type { Registration, RegistrationEvent } from '../src/log/event.js';
import { releaseProfile } from '../src/opensips/releases.js';
import { applyBatch } from '../src/project/apply.js';
import type { LogMessage } from '../src/project/batch.js';
import { pgSession } from '../src/project/pgSession.js';
import { ensureStateSchema } from '../src/project/stateSchema.js';
import { compileTarget } from '../src/project/target.js';
import { applyReverseBatch, type TargetChange } from '../src/reverse/apply.js';
import { LegacyTable } from '../src/reverse/legacyTable.js';
import type { BenchContext, BenchFigure, BenchSection } from './section.js';

/**
 * What reverse sync costs, measured in-process against the same PostgreSQL, side by side:
 *   1. the projection's apply transaction into a plain target and into a shared one (the target
 *      of a reverse sync: own-transaction record, link lookup, conflict-rule reads), for N first
 *      registrations then N refreshes (N = 100k at --scale 1), in batches of 1,000 events;
 *   2. reverse sync's apply of M registrar refreshes into a 2.1 legacy table (M = 20k), in batches
 *      of 500, against a floor: the same per-row UPDATEs of the legacy table in one transaction
 *      per batch, without finding the rows or reading their versions.
 */

const BATCH = 1000;
const REVERSE_BATCH = 500;

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

export const section: BenchSection = {
  name: 'reverse',
  async run(ctx: BenchContext): Promise<BenchFigure[]> {
    const adminUrl = await ctx.postgresUrl();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const n = Math.round(100_000 * ctx.scale);
    const m = Math.round(20_000 * ctx.scale);
    const now = Math.floor(Date.now() / 1000);
    const names = ['ulbridge_bench_plain', 'ulbridge_bench_shared', 'ulbridge_bench_reverse'];
    try {
      ctx.log(
        `reverse: ${n.toLocaleString('en-US')} first registrations + ${n.toLocaleString('en-US')} refreshes through the apply transaction, plain then shared target`,
      );
      const rounds = [logMessages(n, 0, now), logMessages(n, 1, now)];
      const plain = await projectRate(await scratchDb(admin, adminUrl, names[0]!), false, rounds, now);
      const shared = await projectRate(await scratchDb(admin, adminUrl, names[1]!), true, rounds, now);

      ctx.log(`reverse: ${m.toLocaleString('en-US')} registrar refreshes copied into a 2.1 legacy table, and the UPDATE floor`);
      const url = await scratchDb(admin, adminUrl, names[2]!);
      const t = new pg.Client({ connectionString: url });
      await t.connect();
      const legacyDb = await openDb(url);
      let reverseRate: number;
      let floorRate: number;
      try {
        await t.query('SET jit = off');
        await t.query('CREATE SCHEMA legacy');
        for (const sql of createLocationTableSql(releaseProfile('2.1'), postgresDialect, 'legacy.location')) await t.query(sql);
        await ensureStateSchema(t, 'ulbridge_r');
        // m legacy rows, each projected as a target binding (contact id 2^40 + i).
        await t.query(
          `INSERT INTO legacy.location (id, username, domain, contact, expires, callid, cseq, last_modified, user_agent)
           SELECT i, 'u' || i, 'example.com', 'sip:u' || i || '@192.0.2.1', '2030-01-01 00:00:00', 'bench-' || i, 1, '2025-01-01 00:00:00', 'ua'
             FROM generate_series(1, $1) AS i`,
          [m],
        );
        await t.query(
          `INSERT INTO ulbridge_r.bindings (binding, source_name, source_row_key, log_partition, contact_id, in_target, pos_major, pos_minor, pos_seq)
           SELECT 'legacy:' || i, 'legacy', i, 0, 1099511627776 + i, true, 1, 1, 0 FROM generate_series(1, $1) AS i`,
          [m],
        );
        const legacy = new LegacyTable(legacyDb, 'legacy.location', { release: '2.1', timeZone: 'UTC' });
        const change = (i: number, cseq: number): Registration => ({
          username: `u${i}`,
          domain: 'example.com',
          contact: `sip:u${i}@192.0.2.1`,
          received: null,
          path: null,
          expires: 1893456000n,
          q: 1,
          callid: `bench-${i}`,
          cseq,
          lastModified: BigInt(now),
          flags: 0,
          cflags: null,
          userAgent: 'ua',
          socket: null,
          methods: null,
          sipInstance: null,
          kvStore: null,
          attr: null,
        });
        const changes: TargetChange[] = [];
        for (let i = 1; i <= m; i++) {
          const event: RegistrationEvent = {
            op: 'UPSERT',
            source: {
              name: 'rollback',
              release: '4.0',
              connector: 'POSTGRESQL',
              table: 'public.location',
              rowKey: 1099511627776n + BigInt(i),
              position: { major: BigInt(i), minor: 1n, seq: 0n },
              snapshot: false,
              tsMs: 0n,
            },
            registration: change(i, 2),
          };
          changes.push({ event, txId: BigInt(i) });
        }
        let started = process.hrtime.bigint();
        for (let i = 0; i < changes.length; i += REVERSE_BATCH) {
          await applyReverseBatch(t, legacy, { stateSchema: 'ulbridge_r', sourceName: 'legacy' }, changes.slice(i, i + REVERSE_BATCH));
        }
        reverseRate = m / (Number(process.hrtime.bigint() - started) / 1e9);
        started = process.hrtime.bigint();
        for (let i = 1; i <= m; i += REVERSE_BATCH) {
          await legacy.begin();
          const rows = [];
          for (let j = i; j < Math.min(m + 1, i + REVERSE_BATCH); j++) rows.push({ id: BigInt(j), reg: change(j, 3) });
          await legacy.updateRows(rows);
          await legacy.commit();
        }
        floorRate = m / (Number(process.hrtime.bigint() - started) / 1e9);
      } finally {
        await legacyDb.close();
        await t.end();
      }
      return [
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
        {
          figure: 'reverse sync apply (registrar refreshes -> 2.1 legacy)',
          value: reverseRate,
          unit: 'changes/s',
          note: `applyReverseBatch, ${m} changes, batches of ${REVERSE_BATCH}`,
        },
        {
          figure: 'floor: the same UPDATEs, one transaction per batch',
          value: floorRate,
          unit: 'changes/s',
          note: 'LegacyTable.update only: no own_tx check, no lookup, no version read',
        },
        { figure: 'reverse / floor', value: reverseRate / floorRate, unit: 'ratio', note: 'same run' },
      ];
    } finally {
      for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
  },
};
