/**
 * The projection into a shared target (one that a reverse sync reads, so the new registrar writes
 * it too), run against PostgreSQL and MariaDB by project-shared-postgres.test.ts and
 * project-shared-mariadb.test.ts through the one applier: linked registrar rows are adopted, the
 * conflict rule keeps newer target rows, foreign rows stay untouched, and every apply transaction
 * is recorded in own_tx (PostgreSQL: its xid; MySQL/MariaDB: a marker and its GTID) for reverse
 * sync's loop check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBatch } from '../../src/project/apply.js';
import type { LogMessage } from '../../src/project/batch.js';
import { createTargetStore } from '../../src/project/openTargetStore.js';
import type { Target } from '../../src/project/target.js';
import { encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { silentLogger } from '../../src/ops/logger.js';
import { ownWrite, type OwnTxRow } from '../../src/reverse/ownWrites.js';
import type { Conn, Dialect, TestDb } from './project-apply-dialect.js';

const NOW = 1764000000; // 2025-11-24 16:00:00 UTC
const REGISTRAR_ROW = packContactId({ aorhash: 1706, rlabel: 1000, clabel: 0 }); // "callee", the registrar's own label

function ev(
  op: 'UPSERT' | 'DELETE',
  rowKey: bigint,
  major: bigint,
  user: string,
  cseq: number,
  lastModified = NOW,
  expires = NOW + 3600,
): RegistrationEvent {
  return {
    op,
    source: {
      name: 'legacy',
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey,
      position: { major, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 0n,
    },
    registration: {
      username: user,
      domain: 'example.com',
      contact: `sip:${user}@192.0.2.${rowKey}:5060`,
      received: null,
      path: null,
      expires: BigInt(expires),
      q: 1,
      callid: `cid-${rowKey}`,
      cseq,
      lastModified: BigInt(lastModified),
      flags: 0,
      cflags: null,
      userAgent: 'ua',
      socket: null,
      methods: null,
      sipInstance: null,
      kvStore: null,
      attr: null,
    },
  };
}
const msg = (offset: number, e: RegistrationEvent): LogMessage => ({
  offset: String(offset),
  key: Buffer.from(`legacy:${e.source.rowKey}`),
  value: encodeEvent(e),
});

export function projectSharedSuite(d: Dialect): void {
  describe(`shared target on ${d.name}`, () => {
    let db: TestDb;
    let c: Conn;
    let target: Target;
    const st = (table: string): string => `${db.stateSchema}.${table}`;
    // The cases pick offsets freely: each batch is fetched from 0, as if compaction removed the records in between.
    const apply = (messages: LogMessage[]) =>
      applyBatch(c.session(target), { topic: 'log', partition: 0, messages, fetchedOffset: '0', now: NOW });
    const rows = (): Promise<string[]> =>
      c.lines(`SELECT ${d.text('contact_id')}, username, callid, cseq, last_modified FROM location ORDER BY contact_id`);
    const binding = (key: string): Promise<string[]> =>
      c.lines(`SELECT binding, ${d.text('contact_id')}, in_target FROM ${st('bindings')} WHERE binding = '${key}'`);
    const registrarRow = (id: bigint, user: string, n: number, cseq: number, lastModified: string, expires: number) =>
      c.exec(
        `INSERT INTO location (contact_id, username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES (${id}, '${user}', 'example.com', 'sip:${user}@192.0.2.${n}:5060', ${expires}, 'cid-${n}', ${cseq}, '${lastModified}', 'ua')`,
      );
    const link = (id: bigint, key: string, legacyId: number) =>
      c.exec(`INSERT INTO ${st('links')} (contact_id, binding, legacy_id) VALUES (${id}, '${key}', ${legacyId})`);

    before(async () => {
      db = await d.open('pshared', '4.0');
      c = db.main;
      target = db.target({ release: '4.0', timeZone: 'UTC', shared: true });
      await db.ensureState(target);
      // The new registrar registered callee (cid-9, CSeq 4); reverse sync copied it to legacy row 9 and linked it.
      await registrarRow(REGISTRAR_ROW, 'callee', 9, 4, '2025-11-24 16:00:00', NOW + 3600);
      await link(REGISTRAR_ROW, 'legacy:9', 9);
      // A registrar row ulbridge never linked: never touched.
      await registrarRow(packContactId({ aorhash: 1706, rlabel: 1000, clabel: 1 }), 'callee', 99, 1, '2025-11-24 15:00:00', NOW + 60);
    });

    after(async () => {
      await db?.drop();
    });

    const FOREIGN = `${packContactId({ aorhash: 1706, rlabel: 1000, clabel: 1 })}|callee|cid-99|1|2025-11-24 15:00:00`;

    test("the echo of a reverse-synced insert adopts the registrar's row: no second row, nothing written", async () => {
      const r = await apply([msg(0, ev('UPSERT', 9n, 10n, 'callee', 4))]);
      assert.deepEqual({ applied: r.applied, kept: r.kept }, { applied: 1, kept: 1 });
      assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|4|2025-11-24 16:00:00`, FOREIGN]);
      assert.deepEqual(await c.lines(`SELECT binding, ${d.text('contact_id')}, in_target FROM ${st('bindings')}`), [
        `legacy:9|${REGISTRAR_ROW}|1`,
      ]);
    });

    test('a newer legacy change of the adopted binding updates the registrar row; an older one is kept out', async () => {
      const newer = await apply([msg(1, ev('UPSERT', 9n, 11n, 'callee', 5, NOW + 30))]);
      assert.equal(newer.kept, 0);
      assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|5|2025-11-24 16:00:30`, FOREIGN]);
      // The registrar refreshes the row (CSeq 7); the legacy side's CSeq 6 arrives after it.
      await c.exec(`UPDATE location SET cseq = 7, last_modified = '2025-11-24 16:01:00' WHERE contact_id = ${REGISTRAR_ROW}`);
      const older = await apply([msg(2, ev('UPSERT', 9n, 12n, 'callee', 6, NOW + 40))]);
      assert.equal(older.kept, 1);
      assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`, FOREIGN]);
    });

    test('a legacy delete older than the target row is kept out and releases the binding; a newer one deletes', async () => {
      const kept = await apply([msg(3, ev('DELETE', 9n, 13n, 'callee', 6, NOW + 40))]);
      assert.equal(kept.kept, 1);
      assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`, FOREIGN]);
      assert.deepEqual(await binding('legacy:9'), ['legacy:9||0'], "the row is the registrar's again");
      // A binding ulbridge wrote, deleted by a newer legacy change.
      await apply([msg(4, ev('UPSERT', 20n, 20n, 'bob', 1))]);
      const bob = (await c.lines(`SELECT ${d.text('contact_id')} FROM location WHERE callid = 'cid-20'`))[0]!;
      assert.deepEqual(await binding('legacy:20'), [`legacy:20|${bob}|1`]);
      const del = await apply([msg(5, ev('DELETE', 20n, 21n, 'bob', 2, NOW + 5))]);
      assert.deepEqual({ applied: del.applied, kept: del.kept }, { applied: 1, kept: 0 });
      assert.deepEqual(await rows(), [`${REGISTRAR_ROW}|callee|cid-9|7|2025-11-24 16:01:00`, FOREIGN]);
    });

    test('an update whose row the registrar deleted meanwhile is written again (the binding is live on the legacy side)', async () => {
      await apply([msg(6, ev('UPSERT', 21n, 30n, 'carol', 1))]);
      const [id] = await c.lines(`SELECT ${d.text('contact_id')} FROM location WHERE callid = 'cid-21'`);
      await c.exec(`DELETE FROM location WHERE callid = 'cid-21'`);
      await apply([msg(7, ev('UPSERT', 21n, 31n, 'carol', 2, NOW + 60))]);
      assert.deepEqual(await c.lines(`SELECT ${d.text('contact_id')}, cseq FROM location WHERE callid = 'cid-21'`), [`${id}|2`]);
    });

    test('a legacy copy already expired when applied leaves a newer registrar row alone, and its next change updates that row', async () => {
      // The registrar's short-lived contact, copied to legacy row 30 and linked; the registrar refreshed it since.
      const X = packContactId({ aorhash: 1706, rlabel: 1000, clabel: 5 });
      await registrarRow(X, 'callee', 30, 2, '2025-11-24 16:00:10', NOW + 600);
      await link(X, 'legacy:30', 30);
      const echo = await apply([msg(20, ev('UPSERT', 30n, 60n, 'callee', 1, NOW - 5, NOW - 1))]); // the copy of its first, expired state
      assert.equal(echo.kept, 1);
      assert.deepEqual(await binding('legacy:30'), [`legacy:30|${X}|1`], 'the binding keeps the row it did not delete');
      await apply([msg(21, ev('UPSERT', 30n, 61n, 'callee', 3, NOW + 20))]);
      assert.deepEqual(
        await c.lines(`SELECT ${d.text('contact_id')}, cseq FROM location WHERE callid = 'cid-30'`),
        [`${X}|3`],
        "updated in place: one row, the registrar's id",
      );
    });

    test('a binding whose expired row the registrar wrote back is updated in that row, never duplicated', async () => {
      await apply([msg(23, ev('UPSERT', 40n, 70n, 'erin', 1, NOW, NOW - 1))]); // expired when applied: state only
      const [held] = await c.lines(`SELECT ${d.text('contact_id')} FROM ${st('bindings')} WHERE binding = 'legacy:40' AND NOT in_target`);
      assert.ok(held);
      assert.deepEqual(await c.lines(`SELECT callid FROM location WHERE callid = 'cid-40'`), []);
      await registrarRow(BigInt(held), 'erin', 40, 5, '2025-11-24 16:00:50', NOW + 600);
      const older = await apply([msg(24, ev('UPSERT', 40n, 71n, 'erin', 4, NOW + 40))]);
      assert.equal(older.kept, 1);
      await apply([msg(25, ev('UPSERT', 40n, 72n, 'erin', 6, NOW + 60))]);
      assert.deepEqual(await c.lines(`SELECT ${d.text('contact_id')}, cseq FROM location WHERE callid = 'cid-40'`), [`${held}|6`]);
    });

    test('a batch below the stored offset changes nothing and records no own transaction', async () => {
      const before = [await rows(), await c.lines(`SELECT COUNT(*) FROM ${st('own_tx')}`)];
      const again = await apply([msg(25, ev('UPSERT', 40n, 99n, 'erin', 9, NOW + 90))]);
      assert.deepEqual(
        { alreadyApplied: again.alreadyApplied, applied: again.applied, nextOffset: again.nextOffset },
        { alreadyApplied: 1, applied: 0, nextOffset: null },
      );
      assert.deepEqual([await rows(), await c.lines(`SELECT COUNT(*) FROM ${st('own_tx')}`)], before);
    });

    if (d.name === 'postgres') {
      test('every apply transaction of a shared target records its xid (mod 2^32) for reverse sync', async () => {
        const xid = async (): Promise<bigint> => BigInt((await c.lines(`SELECT txid_current()::text`))[0]!);
        const count = async (): Promise<number> => Number((await c.lines(`SELECT count(*) FROM ${st('own_tx')}`))[0]);
        const n0 = await count();
        const x0 = await xid();
        await apply([msg(26, ev('UPSERT', 22n, 40n, 'dave', 1))]);
        const x1 = await xid();
        assert.equal(await count(), n0 + 1);
        const recorded = await c.lines(
          `SELECT xid::text FROM ${st('own_tx')} WHERE xid > ${x0 % 4294967296n} AND xid < ${x1 % 4294967296n}`,
        );
        assert.equal(recorded.length, 1, 'the xid of the transaction between the two probes');
      });
    } else {
      mariadbOwnWrites(() => ({ db, c, target, apply }));
    }

    test('the store of a shared target: state created, batches applied and recorded', async () => {
      const store = createTargetStore({ ...target, db: db.url }, { poolSize: 1, logger: silentLogger });
      try {
        await store.ensureState();
        const before = Number((await c.lines(`SELECT COUNT(*) FROM ${st('own_tx')}`))[0]);
        const r = await store.applyBatch({ topic: 'log', partition: 1, messages: [msg(0, ev('UPSERT', 50n, 80n, 'frank', 1))], now: NOW });
        assert.deepEqual({ applied: r.applied, nextOffset: r.nextOffset }, { applied: 1, nextOffset: '1' });
        assert.deepEqual(await c.lines(`SELECT username, cseq FROM location WHERE callid = 'cid-50'`), ['frank|1']);
        assert.equal(Number((await c.lines(`SELECT COUNT(*) FROM ${st('own_tx')}`))[0]), before + 1);
      } finally {
        await store.close();
      }
    });

    test('a new contact never takes an id an adopted binding holds, with its row in the target or gone', async () => {
      // ulbridge writes dora's first contact: her record label, contact label 0; counter at 1.
      await apply([msg(100, ev('UPSERT', 60n, 80n, 'dora', 1))]);
      const [first] = await c.lines(`SELECT ${d.text('contact_id')} FROM location WHERE callid = 'cid-60'`);
      const aorhash = Number(BigInt(first!) >> 46n);
      const [rlabel] = await c.lines(`SELECT rlabel FROM ${st('aors')} WHERE aor LIKE 'dora%'`);
      // The new registrar loaded that row and gave dora's next contact label 1 under her record
      // label; reverse sync copied it to legacy row 61 and linked it; its echo adopts it.
      const X = packContactId({ aorhash, rlabel: Number(rlabel), clabel: 1 });
      await registrarRow(X, 'dora', 61, 1, '2025-11-24 16:00:00', NOW + 600);
      await link(X, 'legacy:61', 61);
      await apply([msg(101, ev('UPSERT', 61n, 81n, 'dora', 1))]);
      assert.deepEqual(await binding('legacy:61'), [`legacy:61|${X}|1`]);
      assert.deepEqual(
        await c.lines(`SELECT next_clabel FROM ${st('aors')} WHERE aor LIKE 'dora%'`),
        ['2'],
        'the counter passed the adopted label',
      );
      // State as a version before that fix left it (counter at 1), and the registrar's row gone
      // (expired) while the binding still holds its id: dora's next contact takes label 2.
      await c.exec(`UPDATE ${st('aors')} SET next_clabel = 1 WHERE aor LIKE 'dora%'`);
      await c.exec(`DELETE FROM location WHERE contact_id = ${X}`);
      const r = await apply([msg(102, ev('UPSERT', 62n, 82n, 'dora', 1))]);
      assert.equal(r.applied, 1);
      const next = packContactId({ aorhash, rlabel: Number(rlabel), clabel: 2 });
      assert.deepEqual(await c.lines(`SELECT ${d.text('contact_id')} FROM location WHERE callid = 'cid-62'`), [`${next}`]);
      assert.deepEqual(await binding('legacy:61'), [`legacy:61|${X}|1`]);
      assert.deepEqual(await binding('legacy:62'), [`legacy:62|${next}|1`]);
    });
  });
}

interface Ctx {
  db: TestDb;
  c: Conn;
  target: Target;
  apply: (m: LogMessage[]) => Promise<unknown>;
}

interface BinlogEvent {
  Log_name: string;
  Pos: number;
  Event_type: string;
  Server_id: number;
  Info: string;
}

/** MariaDB: own_tx holds each apply transaction's marker and GTID; the binlog proves the GTID is that transaction's. */
function mariadbOwnWrites(ctx: () => Ctx): void {
  const ownRows = async (c: Conn, schema: string): Promise<OwnTxRow[]> =>
    (await c.q(`SELECT seq, server_id, fence, gtid, ceiling FROM ${schema}.own_tx ORDER BY seq`)).map((r) => ({
      serverId: BigInt(r.server_id!),
      fence: r.fence!,
      gtid: r.gtid ?? null,
      ceiling: r.ceiling ?? null,
    }));

  /** The binlog transaction of a GTID: the tables its row events name. */
  async function tablesOf(c: Conn, from: { file: string; pos: string }, gtid: string): Promise<string[]> {
    const events = (await c.q(`SHOW BINLOG EVENTS IN '${from.file}' FROM ${from.pos} LIMIT 5000`)) as unknown as BinlogEvent[];
    const start = events.findIndex((e) => e.Event_type === 'Gtid' && e.Info.includes(`GTID ${gtid}`));
    assert.ok(start >= 0, `GTID ${gtid} in the binlog after ${from.file}:${from.pos}`);
    const tables: string[] = [];
    for (const e of events.slice(start + 1)) {
      if (e.Event_type === 'Xid' || e.Event_type === 'Gtid') break;
      const m = /\(([^)]+)\)/.exec(e.Info);
      if (e.Event_type === 'Table_map' && m) tables.push(m[1]!);
    }
    return tables;
  }

  test('every apply transaction of a shared target leaves a marker whose GTID is the transaction that wrote the rows', async () => {
    const { db, c, apply } = ctx();
    const [status] = await c.q('SHOW MASTER STATUS');
    const from = { file: status!.File!, pos: status!.Position! };
    const n0 = (await ownRows(c, db.stateSchema)).length;
    await apply([msg(26, ev('UPSERT', 22n, 40n, 'dave', 1))]);
    const own = await ownRows(c, db.stateSchema);
    assert.equal(own.length, n0 + 1);
    const marker = own.at(-1)!;
    assert.match(marker.gtid ?? '', /^\d+-\d+-\d+$/);
    assert.equal(marker.ceiling, null);
    // The binlog transaction of that GTID wrote the location row, ulbridge's state and the marker.
    const tables = await tablesOf(c, from, marker.gtid!);
    assert.deepEqual(
      [...new Set(tables)].sort(),
      [
        `${db.name}.location`,
        `${db.stateSchema}.aors`,
        `${db.stateSchema}.bindings`,
        `${db.stateSchema}.offsets`,
        `${db.stateSchema}.own_tx`,
      ].sort(),
    );
    // The fence is the position before it: it does not cover the transaction itself.
    const seq = BigInt(marker.gtid!.split('-')[2]!);
    const fenced = marker.fence.split(',').find((g) => g.startsWith(`${marker.gtid!.split('-')[0]}-`));
    assert.ok(fenced === undefined || BigInt(fenced.split('-')[2]!) < seq, `fence ${marker.fence} is below ${marker.gtid}`);
    // Its change events are ulbridge's own; a registrar's transaction after it is not.
    const [serverId] = await c.lines('SELECT @@server_id');
    const source = (gtid: string) => ({ gtid, server_id: BigInt(serverId!), snapshot: 'false' as const });
    assert.equal(ownWrite(source(marker.gtid!), own), 'own');
    await c.exec(`UPDATE location SET cseq = 2 WHERE callid = 'cid-22'`);
    const [after] = await c.lines('SELECT @@last_gtid');
    assert.equal(ownWrite(source(after!), await ownRows(c, db.stateSchema)), 'foreign');
  });

  test('a marker left without its GTID (a server crash between COMMIT and the statement after it) gets a ceiling from the next session', async () => {
    const { db, c, target } = ctx();
    // As the crashed transaction left it: the marker committed, its GTID never set.
    await c.exec(
      `INSERT INTO ${db.stateSchema}.own_tx (server_id, fence, committed_at) VALUES (@@server_id, @@GLOBAL.gtid_binlog_pos, UTC_TIMESTAMP(3))`,
    );
    const [crashed] = await c.lines(`SELECT @@last_gtid`); // the GTID a crashed apply would have had
    const [serverId] = await c.lines('SELECT @@server_id');
    const source = (gtid: string) => ({ gtid, server_id: BigInt(serverId!), snapshot: 'false' as const });
    assert.equal(ownWrite(source(crashed!), await ownRows(c, db.stateSchema)), 'pending', 'until bounded, any later change may be it');
    const store = createTargetStore({ ...target, db: db.url }, { poolSize: 1, logger: silentLogger });
    try {
      await store.ensureState();
      await store.applyBatch({ topic: 'log', partition: 2, messages: [msg(0, ev('UPSERT', 51n, 81n, 'grace', 1))], now: NOW });
    } finally {
      await store.close();
    }
    const own = await ownRows(c, db.stateSchema);
    const left = own.filter((r) => r.gtid === null);
    assert.equal(left.length, 1);
    assert.ok(left[0]!.ceiling, 'ceiling set');
    // Inside (fence, ceiling]: undecidable from the records; after the ceiling: decided again.
    assert.equal(ownWrite(source(crashed!), own), 'ambiguous');
    await c.exec(`UPDATE location SET cseq = 3 WHERE callid = 'cid-22'`);
    const [later] = await c.lines('SELECT @@last_gtid');
    assert.equal(ownWrite(source(later!), own), 'foreign');
    // Cleaned up, so the other cases see only real markers.
    await c.exec(`DELETE FROM ${db.stateSchema}.own_tx WHERE gtid IS NULL`);
  });
}
