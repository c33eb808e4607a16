/**
 * PostgreSQL only: the applier's statements with parameters run as named prepared statements
 * (src/db/pgPrepared.ts), parsed once per connection; statements over the COPY stage tables and
 * the rare ones whose plan depends on their values stay unnamed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBatch } from '../../src/project/apply.js';
import { parseDbUrl } from '../../src/db/url.js';
import { silentLogger } from '../../src/ops/logger.js';
import { createPostgresTargetStore } from '../../src/project/pgStore.js';
import type { LogMessage } from '../../src/project/batch.js';
import type { Target } from '../../src/project/target.js';
import { APPLY_NOW, logEvent as ev, logMessage as msg } from '../support/logEvents.js';
import { postgres, type TestDb } from './project-apply-dialect.js';

/** A counter of pg_stat_user_tables for the state's `aors` and `bindings`: `aors|n`, `bindings|n`. */
const stateTableCounter = (conn: TestDb['main'], stateSchema: string, counter: 'seq_scan' | 'analyze_count'): Promise<string[]> =>
  conn.lines(
    `SELECT relname, ${counter} FROM pg_stat_user_tables WHERE schemaname = '${stateSchema}' AND relname IN ('aors', 'bindings') ORDER BY relname`,
  );

describe('apply on postgres: prepared statements', () => {
  let db: TestDb;
  let target: Target;

  before(async () => {
    db = await postgres.open('prep', '4.0');
    target = db.target({ release: '4.0' });
    await db.ensureState(target);
  });

  after(async () => {
    await db?.drop();
  });

  /**
   * The prepared statements of a connection, in the order they were first prepared: the start of
   * each text (state schema as STATE), or `unnamed?` for a name that is not ulbridge's.
   */
  const preparedOn = async (conn: TestDb['main']): Promise<string[]> =>
    await conn.lines(
      `SELECT CASE WHEN name ~ '^ulbridge_[0-9]+$' THEN '' ELSE 'unnamed? ' END,
                left(replace(replace(regexp_replace(statement, '\\s+', ' ', 'g'), '"${db.stateSchema}"', 'STATE'), '${db.stateSchema}', 'STATE'), 38)
           FROM pg_prepared_statements ORDER BY substring(name FROM '[0-9]+$')::int`,
      '',
    );

  test('small batches: the reads, locks and writes are prepared once, and stay so over many batches', async () => {
    const c = await db.connect();
    try {
      const apply = (partition: number, messages: LogMessage[]) =>
        applyBatch(c.session(target), { topic: 'log', partition, messages, now: APPLY_NOW });
      // New bindings (AORs created, labels drawn), then refreshes and a delete, in two partitions.
      await apply(0, [msg(0, ev('UPSERT', 1n, 10n, 'alice', 1)), msg(1, ev('UPSERT', 2n, 11n, 'bob', 1))]);
      for (let i = 0; i < 10; i++) await apply(1, [msg(i, ev('UPSERT', 3n, 20n + BigInt(i), 'carol', i + 1))]);
      await apply(0, [msg(2, ev('UPSERT', 1n, 12n, 'alice', 2)), msg(3, ev('DELETE', 2n, 13n, 'bob'))]);
      // Once prepared here, the bindings read and the writes held back for COMMIT run as EXECUTE
      // of these same statements (project-apply-suite counts the round trips).
      assert.deepEqual(await preparedOn(c), [
        'SELECT binding, source_name, source_ro',
        'SELECT aor, aorhash, slot, rlabel::tex',
        "SELECT nextval('STATE.rlabel_seq')::te",
        'INSERT INTO "location" ("contact_id", ',
        'INSERT INTO STATE.aors (aor, aorhash, ',
        'INSERT INTO STATE.bindings (binding, s',
        'UPDATE "location" AS t SET "username" ',
        'DELETE FROM "location" WHERE contact_i',
      ]);
      // The rows are what the plain statements wrote before (project-apply-suite checks those).
      assert.deepEqual(await c.lines('SELECT username, cseq FROM location ORDER BY username'), ['alice|2', 'carol|10']);
    } finally {
      await c.close();
    }
  });

  test('README Limits: after a first load of small batches, ANALYZE of the state tables or a restart replans the reads (no sequential scans of them)', async () => {
    const c = await db.connect();
    const restarted = await db.connect();
    try {
      let offset = 0;
      const apply = (conn: TestDb['main'], from: number, n: number, cseq: number) => {
        const messages = Array.from({ length: n }, (_, i) =>
          msg(offset + i, ev('UPSERT', BigInt(from + i), BigInt(offset + i + 1), `erin${from + i}`, cseq)),
        );
        offset += n;
        return applyBatch(conn.session(target), { topic: 'log', partition: 3, messages, now: APPLY_NOW });
      };
      const seqScans = async (): Promise<string[]> => {
        // Each backend's counters reach the shared statistics at the end of its next transaction.
        for (const conn of [c, restarted]) await conn.exec('SELECT pg_stat_force_next_flush()');
        return stateTableCounter(c, db.stateSchema, 'seq_scan');
      };
      // Eight batches while the state tables are nearly empty (the named statements get their
      // generic plans at the sixth), then 20,000 bindings of as many AORs.
      for (let b = 0; b < 8; b++) await apply(c, 10_000 + offset, 10, 1);
      for (let b = 0; b < 40; b++) await apply(c, 10_000 + offset, 500, 1);

      // "restarting ulbridge run": new connections prepare their statements on the grown tables.
      let before = await seqScans();
      for (let b = 0; b < 8; b++) await apply(restarted, 10_000 + offset, 10, 1);
      assert.deepEqual(await seqScans(), before);

      // "Running ANALYZE on the state schema's bindings and aors tables", then the same connection.
      await db.main.exec(`ANALYZE "${db.stateSchema}".bindings, "${db.stateSchema}".aors`);
      before = await seqScans();
      for (let b = 0; b < 4; b++) await apply(c, 10_000 + offset, 10, 1);
      for (let b = 0; b < 4; b++) await apply(c, 10_000 + b * 10, 10, 2);
      assert.deepEqual(await seqScans(), before);
      assert.equal((await c.lines(`SELECT count(*) FROM location WHERE username LIKE 'erin%' AND cseq = 2`))[0], '40');
    } finally {
      await c.close();
      await restarted.close();
    }
  });

  test('the store ANALYZEs the state tables after 1,000 applied events, then 4x as many: small batches into a new target stop scanning them', async () => {
    // Its own target: the state tables start empty, as on a new target.
    const fresh = await postgres.open('prepan', '4.0');
    const t = fresh.target({ release: '4.0' });
    const store = createPostgresTargetStore(t, parseDbUrl(t.db), { poolSize: 1, logger: silentLogger });
    try {
      await store.ensureState();
      let offset = 0;
      const apply = (n: number) => {
        const messages = Array.from({ length: n }, (_, i) =>
          msg(offset + i, ev('UPSERT', BigInt(offset + i), BigInt(offset + i + 1), `fred${offset + i}`, 1)),
        );
        offset += n;
        return store.applyBatch({ topic: 'log', partition: 0, messages, now: APPLY_NOW });
      };
      const analysed = (): Promise<string[]> => stateTableCounter(fresh.main, fresh.stateSchema, 'analyze_count');
      const seqScans = async (): Promise<string[]> => {
        // The store's one pooled backend reports its counters when it next goes idle.
        await store.pool.query('SELECT pg_stat_force_next_flush()');
        return stateTableCounter(fresh.main, fresh.stateSchema, 'seq_scan');
      };
      // 99 batches of 10 (990 events): the generic plans are made on nearly empty tables, no ANALYZE yet.
      for (let b = 0; b < 99; b++) await apply(10);
      assert.deepEqual(await analysed(), ['aors|0', 'bindings|0']);
      await apply(10); // the 1,000th event
      assert.deepEqual(await analysed(), ['aors|1', 'bindings|1']);
      // (At 1,000 rows a sequential scan is the cheaper plan, and the planner says so.)
      for (let b = 0; b < 30; b++) await apply(100); // the 4,000th event
      assert.deepEqual(await analysed(), ['aors|2', 'bindings|2']);
      // Then batches of 10 again, on the same connection: planned from the statistics, no sequential scans.
      const before = await seqScans();
      for (let b = 0; b < 20; b++) await apply(10);
      assert.deepEqual(await seqScans(), before);
      assert.deepEqual(await analysed(), ['aors|2', 'bindings|2']); // the next at 16,000
      assert.equal((await fresh.main.lines(`SELECT count(*) FROM location WHERE username LIKE 'fred%'`))[0], '4200');
    } finally {
      await store.close();
      await fresh.drop();
    }
  });

  test('COPY into stage tables: the statements over a stage are not prepared', async () => {
    const c = await db.connect();
    try {
      const messages = Array.from({ length: 5 }, (_, i) => msg(i, ev('UPSERT', 100n + BigInt(i), 100n + BigInt(i), `dave${i}`, 1)));
      await applyBatch(c.session(target, { label: 'copy', release: '4.0', copyMinRows: 1 }), {
        topic: 'log',
        partition: 2,
        messages,
        now: APPLY_NOW,
      });
      const names = await preparedOn(c);
      assert.deepEqual(
        names.filter((n) => n.includes('pg_temp')),
        [],
      );
      assert.equal((await c.lines("SELECT count(*) FROM location WHERE username LIKE 'dave%'"))[0], '5');
    } finally {
      await c.close();
    }
  });
});
