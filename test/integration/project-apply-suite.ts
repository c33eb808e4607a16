/**
 * The contract of the projection's apply transaction (src/project/apply.ts over a dialect session),
 * run against a real server by project-apply-postgres.test.ts and project-apply-mariadb.test.ts:
 * the same batches, the same expected rows and contact ids, state and offsets on both databases.
 * Foreign rows are left alone, idempotence holds by offset and by source position, truncate and
 * tombstones, DATETIME in the registrar's zone, rollback, two instances on one partition, a batch
 * fetched from above the stored offset.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyBatch } from '../../src/project/apply.js';
import type { BatchInput, BatchResult, LogMessage } from '../../src/project/batch.js';
import mysql from 'mysql2/promise';
import { mysqlSessionOptions, prepareMysqlSession } from '../../src/project/mysqlStore.js';
import { createTargetStore } from '../../src/project/openTargetStore.js';
import { aorIdentity, type Target } from '../../src/project/target.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { silentLogger } from '../../src/ops/logger.js';
import { APPLY_NOW, logEvent as ev, logMessage as msg } from '../support/logEvents.js';
import type { Conn, Dialect, TestDb, Variant } from './project-apply-dialect.js';

const NOW = APPLY_NOW; // 2025-11-24 16:00:00 UTC = 17:00:00 in Europe/Berlin

export function projectApplySuite(d: Dialect): void {
  for (const v of d.variants) scenario(d, v);
  pushedChanges(d);
  if (d.name === 'mysql') mysqlStore(d);
}

function scenario(d: Dialect, variant: Variant): void {
  describe(`apply on ${d.name} (${variant.label})`, () => {
    let db: TestDb;
    let c: Conn;
    let target: Target;
    const dt = variant.release === '2.2';
    // expires as the table holds it: unix seconds (4.0) or Berlin wall-clock DATETIME (2.2).
    const exp = (unix: number, berlin: string): string => (dt ? berlin : String(unix));
    const expSql = (unix: number, berlin: string): string => (dt ? `'${berlin}'` : String(unix));
    /** The id ulbridge gives `user`'s contact with these labels. */
    const idOf = (user: string, rlabel: number, clabel: number): string =>
      packContactId({ aorhash: aorIdentity(target, user, 'example.com').aorhash, rlabel, clabel }).toString();
    const st = (table: string): string => `${db.stateSchema}.${table}`;

    const rows = (): Promise<string[]> =>
      c.lines(
        `SELECT ${d.text('contact_id')} AS id, username, domain, contact, expires, q, callid, cseq, last_modified, flags, cflags FROM location ORDER BY contact_id`,
      );
    const sorted = (lines: string[]): string[] => [...lines].sort((a, b) => (BigInt(a.split('|')[0]!) < BigInt(b.split('|')[0]!) ? -1 : 1));
    const state = (sql: string): Promise<string[]> => c.lines(sql, ':');

    const batch = (partition: number, messages: LogMessage[], more: Partial<BatchInput> = {}, conn = c): Promise<BatchResult> =>
      applyBatch(conn.session(target, variant), { topic: 'log', partition, messages, now: NOW, ...more });
    const apply = (messages: LogMessage[], partition = 0, conn = c): Promise<BatchResult> => batch(partition, messages, {}, conn);

    let FOREIGN: string[];
    const row = (id: string, user: string, n: number, cseq: number, expires = exp(NOW + 3600, '2025-11-24 18:00:00')): string =>
      `${id}|${user}|example.com|sip:${user}@192.0.2.${n}:5060|${expires}|0.5|cid-${n}|${cseq}|2025-11-24 17:00:00|0|NAT`;

    before(async () => {
      db = await d.open(`pa${variant.release.replace('.', '')}`, variant.release);
      c = db.main;
      target = db.target({ release: variant.release });
      await db.ensureState(target);
      // The first batch creates AORs bob and callee, in this order (PostgreSQL draws labels in
      // event order, MySQL in key byte order: both give bob 131072 and callee 131073). A
      // registrar's own rows hold callee's clabels 0 and 2, and one more of its rows holds id 5.
      const e60 = expSql(NOW + 60, '2025-11-24 17:01:00');
      await c.exec(
        `INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES
           (${idOf('callee', 131073, 0)}, 'callee', 'sip:callee@198.51.100.1', ${e60}, 'foreign-1', 'registrar'),
           (${idOf('callee', 131073, 2)}, 'callee', 'sip:callee@198.51.100.3', ${e60}, 'foreign-3', 'registrar'),
           (5, 'other', 'sip:other@198.51.100.2', ${expSql(0, '1970-01-01 01:00:00')}, 'foreign-2', 'registrar')`,
      );
      FOREIGN = [
        `5|other||sip:other@198.51.100.2|${exp(0, '1970-01-01 01:00:00')}|1|foreign-2|13|1900-01-01 00:00:01|0|`,
        `${idOf('callee', 131073, 0)}|callee||sip:callee@198.51.100.1|${exp(NOW + 60, '2025-11-24 17:01:00')}|1|foreign-1|13|1900-01-01 00:00:01|0|`,
        `${idOf('callee', 131073, 2)}|callee||sip:callee@198.51.100.3|${exp(NOW + 60, '2025-11-24 17:01:00')}|1|foreign-3|13|1900-01-01 00:00:01|0|`,
      ];
    });

    after(async () => {
      await db?.drop();
    });

    test('inserts take the next free contact label where foreign rows hold ids, and leave foreign rows alone; state commits with the rows', async () => {
      const r = await apply([
        msg(0, ev('UPSERT', 3n, 12n, 'bob')),
        msg(1, ev('UPSERT', 1n, 10n, 'callee')),
        msg(2, ev('UPSERT', 2n, 11n, 'callee')),
      ]);
      assert.deepEqual(
        { processed: r.processed, applied: r.applied, nextOffset: r.nextOffset },
        { processed: 3, applied: 3, nextOffset: '3' },
      );
      // last_modified (and 2.2's expires) in the registrar's zone, Europe/Berlin (UTC+1 in November); FL_MEM cleared.
      // cid-1 met the foreign id (clabel 0); clabel 1 was cid-2's and 2 is foreign too, so cid-1 took clabel 3.
      assert.deepEqual(
        await rows(),
        sorted([
          ...FOREIGN,
          row(idOf('callee', 131073, 1), 'callee', 2, 1),
          row(idOf('callee', 131073, 3), 'callee', 1, 1),
          row(idOf('bob', 131072, 0), 'bob', 3, 1),
        ]),
      );
      assert.deepEqual(await state(`SELECT aor, rlabel, next_clabel, wrapped FROM ${st('aors')} ORDER BY aor`), [
        'bob:131072:1:0',
        'callee:131073:4:0',
      ]);
      assert.deepEqual(
        await state(
          `SELECT binding, source_name, source_row_key, log_partition, aor, clabel, ${d.text('contact_id')}, in_target, pos_major, pos_minor, pos_seq FROM ${st('bindings')} ORDER BY binding`,
        ),
        [
          `legacy:1:legacy:1:0:callee:3:${idOf('callee', 131073, 3)}:1:10:1:0`,
          `legacy:2:legacy:2:0:callee:1:${idOf('callee', 131073, 1)}:1:11:1:0`,
          `legacy:3:legacy:3:0:bob:0:${idOf('bob', 131072, 0)}:1:12:1:0`,
        ],
      );
      assert.deepEqual(await state(`SELECT topic, ${quotePartition(d)}, next_offset FROM ${st('offsets')}`), ['log:0:3']);
    });

    test('a batch at or below the stored offset is skipped; an older source position is ignored', async () => {
      const before = await rows();
      const again = await apply([
        msg(0, ev('UPSERT', 3n, 12n, 'bob', 99)),
        msg(1, ev('UPSERT', 1n, 10n, 'callee', 99)),
        msg(2, ev('UPSERT', 2n, 11n, 'callee', 99)),
      ]);
      assert.deepEqual(
        { alreadyApplied: again.alreadyApplied, processed: again.processed, nextOffset: again.nextOffset },
        { alreadyApplied: 3, processed: 0, nextOffset: null },
      );
      assert.deepEqual(await rows(), before);
      const stale = await apply([msg(3, ev('UPSERT', 2n, 9n, 'callee', 98))]);
      assert.deepEqual(
        { stale: stale.stale, applied: stale.applied, nextOffset: stale.nextOffset },
        { stale: 1, applied: 0, nextOffset: '4' },
      );
      assert.deepEqual(await rows(), before);
    });

    test("updates keep the id; a delete removes only ulbridge's row; an expired binding has no row", async () => {
      await apply([
        msg(4, ev('UPSERT', 2n, 20n, 'callee', 7)),
        msg(5, ev('DELETE', 1n, 21n, 'callee')),
        msg(6, ev('UPSERT', 3n, 22n, 'bob', 2, BigInt(NOW - 1))),
      ]);
      assert.deepEqual(await rows(), sorted([...FOREIGN, row(idOf('callee', 131073, 1), 'callee', 2, 7)]));
      // bob's refresh brings the row back with the id it had; a permanent registration (expires 0)
      // is localtime(0) on a DATETIME table.
      await apply([msg(7, ev('UPSERT', 3n, 23n, 'bob', 3, 0n))]);
      assert.deepEqual(
        await rows(),
        sorted([
          ...FOREIGN,
          row(idOf('callee', 131073, 1), 'callee', 2, 7),
          row(idOf('bob', 131072, 0), 'bob', 3, 3, exp(0, '1970-01-01 01:00:00')),
        ]),
      );
    });

    test('a tombstone whose DELETE was compacted away deletes the binding; TRUNCATE removes every row of the source in the partition', async () => {
      await apply([msg(8, null, 'legacy:3')]);
      assert.deepEqual(await rows(), sorted([...FOREIGN, row(idOf('callee', 131073, 1), 'callee', 2, 7)]));
      const r = await apply([
        msg(9, ev('UPSERT', 4n, 30n, 'carol')),
        msg(10, ev('TRUNCATE', 0n, 31n, '')),
        msg(11, ev('UPSERT', 5n, 32n, 'dave')),
      ]);
      assert.deepEqual({ applied: r.applied, nextOffset: r.nextOffset }, { applied: 3, nextOffset: '12' });
      assert.deepEqual(await rows(), sorted([...FOREIGN, row(idOf('dave', 131075, 0), 'dave', 5, 1)]));
      assert.deepEqual(
        await state(
          `SELECT binding, CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END, in_target, pos_major FROM ${st('bindings')} ORDER BY binding`,
        ),
        ['legacy:1:0:0:21', 'legacy:2:0:0:31', 'legacy:3:0:0:23', 'legacy:4:0:0:31', 'legacy:5:1:1:32'],
      );
      // AORs keep their labels after their bindings are gone.
      assert.deepEqual(await state(`SELECT aor, rlabel FROM ${st('aors')} ORDER BY rlabel`), [
        'bob:131072',
        'callee:131073',
        'carol:131074',
        'dave:131075',
      ]);
    });

    test('events OpenSIPS could not load go to dead letters and are not written', async () => {
      const before = await rows();
      const r = await apply([msg(12, ev('UPSERT', 6n, 40n, ''))]);
      // Every letter carries its source position and the record's bytes.
      assert.deepEqual(
        r.deadLetters.map((l) => [
          l.reason,
          l.message,
          l.offset,
          l.key?.toString(),
          l.value?.equals(msg(12, ev('UPSERT', 6n, 40n, '')).value!),
        ]),
        [
          [
            'UNLOADABLE_AOR',
            'binding legacy:6: empty username record; OpenSIPS would skip this row, so it is not written',
            '12',
            'legacy:6',
            true,
          ],
        ],
      );
      const bad = await apply([{ offset: '13', key: Buffer.from('legacy:7'), value: Buffer.from('{"op":"c"}') }]);
      assert.deepEqual(
        bad.deadLetters.map((l) => [l.reason, l.message, l.offset]),
        [['UNDECODABLE_LOG_EVENT', 'not an Avro single-object encoded message (missing C3 01 header)', '13']],
      );
      assert.deepEqual(await rows(), before);
      assert.deepEqual(await state(`SELECT next_offset FROM ${st('offsets')} WHERE ${quotePartition(d)} = 0`), ['14']);
    });

    test('a failure before COMMIT leaves nothing and the connection usable; quotes, tabs, newlines, backslashes and non-ASCII AORs are written exactly', async () => {
      const odd = ev('UPSERT', 8n, 50n, 'jürgen');
      odd.registration!.contact = `sip:j@192.0.2.8;x="a\nb\rc";y='q'`;
      odd.registration!.userAgent = 'ua\twith\ttabs \\ and \\N';
      if (!dt) odd.registration!.kvStore = '{"k":"\\t"}';
      const snapshot = async () => [
        await rows(),
        await state(`SELECT binding FROM ${st('bindings')} ORDER BY binding`),
        await state(`SELECT aor FROM ${st('aors')} ORDER BY aor`),
        await state(`SELECT ${quotePartition(d)}, next_offset FROM ${st('offsets')} ORDER BY ${quotePartition(d)}`),
      ];
      const before = await snapshot();
      // A fresh connection whose first transaction fails (after it created its stage tables, on PostgreSQL COPY).
      const c2 = await db.connect();
      try {
        const failing = batch(
          1,
          [msg(0, odd), msg(1, ev('UPSERT', 9n, 51n, ''))],
          {
            deadLetter: async () => {
              throw new Error('dead-letter topic down');
            },
          },
          c2,
        );
        await assert.rejects(failing, /dead-letter topic down/);
        assert.deepEqual(await snapshot(), before, 'rows, bindings, AORs and offsets all rolled back');
        const r = await apply([msg(0, odd)], 1, c2);
        assert.equal(r.applied, 1);
      } finally {
        await c2.close();
      }
      // The failed transaction consumed record label 131076: labels are never reused.
      const got = await c.q(
        `SELECT ${d.text('contact_id')} AS id, username, contact, user_agent${dt ? '' : ', kv_store'} FROM location WHERE callid = 'cid-8'`,
      );
      assert.deepEqual(got, [
        {
          id: idOf('jürgen', 131077, 0),
          username: 'jürgen',
          contact: odd.registration!.contact,
          user_agent: odd.registration!.userAgent,
          ...(dt ? {} : { kv_store: odd.registration!.kvStore }),
        },
      ]);
    });

    test('two instances given one partition serialise on the offsets row: the second skips what the first applied', async () => {
      const other = await db.connect();
      try {
        const msgs = [msg(0, ev('UPSERT', 60n, 60n, 'frank')), msg(1, ev('UPSERT', 61n, 61n, 'grace'))];
        const [a, b] = await Promise.all([apply(msgs, 3, c), apply(msgs, 3, other)]);
        assert.deepEqual([a.applied + b.applied, a.alreadyApplied + b.alreadyApplied], [2, 2]);
        assert.deepEqual(await c.lines(`SELECT callid FROM location WHERE callid IN ('cid-60', 'cid-61') ORDER BY callid`), [
          'cid-60',
          'cid-61',
        ]);
        assert.deepEqual(await state(`SELECT next_offset FROM ${st('offsets')} WHERE ${quotePartition(d)} = 3`), ['2']);
      } finally {
        await other.close();
      }
    });

    test('a batch of 1,000 new bindings over 300 AORs, then their refreshes: one row each, ids unique and kept', async () => {
      const first: LogMessage[] = [];
      const again: LogMessage[] = [];
      for (let i = 0; i < 1000; i++) {
        first.push(msg(i, ev('UPSERT', BigInt(1000 + i), BigInt(1000 + i), `user${i % 300}`)));
        again.push(msg(1000 + i, ev('UPSERT', BigInt(1000 + i), BigInt(5000 + i), `user${i % 300}`, 2)));
      }
      const r = await apply(first, 2);
      assert.deepEqual({ applied: r.applied, nextOffset: r.nextOffset }, { applied: 1000, nextOffset: '1000' });
      const ids = `SELECT callid, ${d.text('contact_id')} AS id, cseq FROM location WHERE username LIKE 'user%' ORDER BY callid`;
      const before = await c.q(ids);
      assert.equal(new Set(before.map((x) => x.id)).size, 1000);
      assert.ok(before.every((x) => x.cseq === '1'));
      await apply(again, 2);
      const after = await c.q(ids);
      assert.deepEqual(
        after.map((x) => `${x.callid}:${x.id}:${x.cseq}`),
        before.map((x) => `${x.callid}:${x.id}:2`),
      );
      assert.deepEqual(await state(`SELECT COUNT(*), MIN(pos_major) FROM ${st('bindings')} WHERE log_partition = 2 AND in_target`), [
        '1000:5000',
      ]);
    });

    test('a contact label counter that wraps past 16383 skips the labels of live bindings', async () => {
      // user0 holds clabels 0-3 (previous test); put its counter just below the wrap.
      await c.exec(`UPDATE ${st('aors')} SET next_clabel = 16382 WHERE aor = 'user0'`);
      const more: LogMessage[] = [];
      for (let i = 0; i < 4; i++) more.push(msg(2000 + i, ev('UPSERT', BigInt(3000 + i), BigInt(9000 + i), 'user0')));
      await apply(more, 2);
      assert.deepEqual(
        await state(
          `SELECT source_row_key, clabel FROM ${st('bindings')} WHERE aor = 'user0' AND contact_id IS NOT NULL ORDER BY source_row_key`,
        ),
        ['1000:0', '1300:1', '1600:2', '1900:3', '3000:16382', '3001:16383', '3002:4', '3003:5'],
      );
      assert.deepEqual(await state(`SELECT next_clabel, wrapped FROM ${st('aors')} WHERE aor = 'user0'`), ['6:1']);
      assert.deepEqual(await state(`SELECT COUNT(DISTINCT contact_id) FROM location WHERE username = 'user0'`), ['8']);
    });

    if (d.name === 'mysql') {
      // A DB-only MySQL registrar assigns max(contact_id)+1, +2, ...; PostgreSQL's draws ids from a
      // sequence below 2^31, which can never meet ulbridge's ids.
      test("a DB-only registrar that took max+1 .. max+100 after ulbridge's highest id: the next contact skips the whole run in one batch", async () => {
        await apply([msg(0, ev('UPSERT', 7000n, 7000n, 'zed'))], 4);
        const [first] = await state(`SELECT ${d.text('contact_id')} FROM location WHERE callid = 'cid-7000'`);
        const rlabel = Number((BigInt(first!) >> 14n) & 0xffffffffn);
        assert.equal(first, idOf('zed', rlabel, 0));
        const run = Array.from(
          { length: 100 },
          (_, i) =>
            `(${BigInt(first) + BigInt(i + 1)}, 'reg${i}', 'sip:reg@198.51.100.9', ${expSql(NOW + 60, '2025-11-24 17:01:00')}, 'registrar-${i}', 'registrar')`,
        );
        await c.exec(`INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES ${run.join(', ')}`);
        const r = await apply([msg(1, ev('UPSERT', 7001n, 7001n, 'zed'))], 4);
        assert.equal(r.applied, 1);
        assert.deepEqual(await state(`SELECT callid, ${d.text('contact_id')} FROM location WHERE username = 'zed' ORDER BY contact_id`), [
          `cid-7000:${first}`,
          `cid-7001:${idOf('zed', rlabel, 101)}`,
        ]);
      });
    }

    test('a registrar inserting the planned id while the batch runs: the insert waits for it, and the binding takes the next label', async () => {
      const [n] = (await state(`SELECT next_clabel FROM ${st('aors')} WHERE aor = 'callee'`)).map(Number);
      const registrar = await db.connect();
      try {
        // Not committed yet: invisible to the batch's lookup, but its INSERT waits for this row's lock.
        await registrar.exec(
          `START TRANSACTION; INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES (${idOf('callee', 131073, n!)}, 'callee', 'sip:callee@198.51.100.7', ${expSql(NOW + 60, '2025-11-24 17:01:00')}, 'foreign-race', 'registrar')`,
        );
        const applying = apply([msg(0, ev('UPSERT', 7100n, 7100n, 'callee'))], 5);
        await new Promise((r) => setTimeout(r, 300));
        await registrar.exec('COMMIT');
        assert.equal((await applying).applied, 1);
      } finally {
        await registrar.close();
      }
      assert.deepEqual(
        await state(
          `SELECT callid, ${d.text('contact_id')} FROM location WHERE callid IN ('foreign-race', 'cid-7100') ORDER BY contact_id`,
        ),
        [`foreign-race:${idOf('callee', 131073, n!)}`, `cid-7100:${idOf('callee', 131073, n! + 1)}`],
      );
    });

    test('one use_domain=0 AOR created by two partitions at once: the later transaction waits, then uses the AOR the first committed (after a retry at most)', async () => {
      const other = await db.connect();
      try {
        const later: { batch?: Promise<BatchResult> } = {};
        const second = [msg(0, ev('UPSERT', 7202n, 7202n, 'heidi'))];
        // The first batch pauses before COMMIT (in its dead-letter hook) while the second starts.
        const first = await batch(6, [msg(0, ev('UPSERT', 7200n, 7200n, 'heidi')), msg(1, ev('UPSERT', 7201n, 7201n, ''))], {
          deadLetter: async () => {
            // MySQL waits on the AOR row and uses it; PostgreSQL's INSERT of the AOR fails once
            // the first commits, and the projection's retry uses it.
            later.batch = apply(second, 7, other).catch(() => apply(second, 7, other));
            later.batch.catch(() => undefined); // awaited below
            await new Promise((r) => setTimeout(r, 300));
          },
        });
        assert.deepEqual([first.deadLetters.length, (await later.batch!).applied], [1, 1]);
      } finally {
        await other.close();
      }
      const [r] = (await state(`SELECT rlabel FROM ${st('aors')} WHERE aor = 'heidi'`)).map(Number);
      assert.deepEqual(await state(`SELECT callid, ${d.text('contact_id')} FROM location WHERE username = 'heidi' ORDER BY contact_id`), [
        `cid-7200:${idOf('heidi', r!, 0)}`,
        `cid-7202:${idOf('heidi', r!, 1)}`,
      ]);
    });

    test('a batch fetched from above the stored next offset is not applied; fetched again from the stored offset, it is', async () => {
      const before = await rows();
      // Partition 11 never applied (stored next offset 0); a consumer resuming at Kafka's group offset 500.
      const first = msg(0, ev('UPSERT', 7000n, 20000n, 'gapuser'));
      const later = msg(500, ev('UPSERT', 7001n, 20001n, 'gapuser'));
      const gap = await batch(11, [later], { fetchedOffset: '500' });
      assert.deepEqual(
        { processed: gap.processed, applied: gap.applied, nextOffset: gap.nextOffset, resumeAt: gap.resumeAt },
        { processed: 0, applied: 0, nextOffset: null, resumeAt: '0' },
      );
      assert.deepEqual(await rows(), before);
      assert.deepEqual(await state(`SELECT next_offset FROM ${st('offsets')} WHERE ${quotePartition(d)} = 11`), [], 'nothing stored');
      // From the stored offset (compaction removed 1..499): applied; the consumer's end of the batch is stored.
      const again = await batch(11, [first, later], { fetchedOffset: '0', endOffset: '502' });
      assert.deepEqual(
        { applied: again.applied, nextOffset: again.nextOffset, resumeAt: again.resumeAt },
        { applied: 2, nextOffset: '502', resumeAt: null },
      );
      assert.deepEqual(await c.lines(`SELECT callid FROM location WHERE username = 'gapuser' ORDER BY callid`), ['cid-7000', 'cid-7001']);
      // One above the stored offset is a gap as well.
      const one = await batch(11, [msg(503, ev('UPSERT', 7002n, 20002n, 'gapuser'))]);
      assert.equal(one.resumeAt, '502');
    });

    test('a batch of 1,500 rows with long multi-byte text (over 1 MiB of COPY text on PostgreSQL, rows split across chunks) is written exactly', async () => {
      const n = 1500;
      const expected: string[] = [];
      const messages = Array.from({ length: n }, (_, i) => {
        const e = ev('UPSERT', 30_000n + BigInt(i), 40_000n + BigInt(i), `bulk${i}`);
        // ~1 KB per row on the wire: 2-byte characters, and the characters COPY escapes.
        e.registration!.contact = `sip:bulk${i}@192.0.2.9;x=${'ä'.repeat(200)}`;
        e.registration!.userAgent = `${i}\t\\${'ü'.repeat(230)}\n`;
        expected.push(`bulk${i}|${e.registration!.contact}|${e.registration!.userAgent}`);
        return msg(i, e);
      });
      const r = await apply(messages, 12);
      assert.equal(r.applied, n);
      const got = await c.lines(`SELECT username, contact, user_agent FROM location WHERE username LIKE 'bulk%'`);
      assert.deepEqual(got.sort(), expected.sort());
    });

    test('a refresh reads its binding in the round trip that locks the offsets; a record without a key reads it on its own', async () => {
      // A new binding, then a first refresh (PostgreSQL's COPY variant creates its stage tables here).
      await apply([msg(0, ev('UPSERT', 50_000n, 60_000n, 'erin', 1))], 13);
      await apply([msg(1, ev('UPSERT', 50_000n, 60_001n, 'erin', 2))], 13);
      const trips = async (m: LogMessage): Promise<number> => {
        const before = c.roundTrips();
        await apply([m], 13);
        return c.roundTrips() - before;
      };
      const keyed = await trips(msg(2, ev('UPSERT', 50_000n, 60_002n, 'erin', 3)));
      const unkeyed = await trips({ ...msg(3, ev('UPSERT', 50_000n, 60_003n, 'erin', 4)), key: null });
      assert.deepEqual({ keyed, unkeyed }, { keyed: variant.roundTrips.keyedRefresh, unkeyed: variant.roundTrips.unkeyedRefresh });
      assert.deepEqual(await c.lines(`SELECT username, cseq FROM location WHERE username = 'erin'`), ['erin|4']);
    });

    test('a new binding of a new AOR is inserted without a lookup of its contact id first (a clash fails the INSERT itself)', async () => {
      // The first run on this connection prepares statements (PostgreSQL), creates stages (COPY variant).
      await apply([msg(0, ev('UPSERT', 51_000n, 61_000n, 'fiona', 1))], 14);
      const before = c.roundTrips();
      await apply([msg(1, ev('UPSERT', 51_001n, 61_001n, 'gwen', 1))], 14);
      assert.equal(c.roundTrips() - before, variant.roundTrips.newBinding);
      assert.deepEqual(await c.lines(`SELECT username, callid FROM location WHERE username IN ('fiona', 'gwen') ORDER BY username`), [
        'fiona|cid-51000',
        'gwen|cid-51001',
      ]);
    });
  });
}

/** A target with a registrar cluster (push): each batch returns the rows it wrote and deleted, read from the table. */
function pushedChanges(d: Dialect): void {
  describe(`apply on ${d.name}: the changes a target with a registrar cluster pushes`, () => {
    let db: TestDb;
    let target: Target;
    before(async () => {
      db = await d.open('pp', '4.0');
      target = db.target({ release: '4.0', push: true });
      await db.ensureState(target);
    });
    after(async () => {
      await db.drop();
    });

    test('inserts, updates, deletes and a TRUNCATE come back in order, each row exactly as the table holds it; a target without push gets none', async () => {
      const apply = (offset: number, events: Array<ReturnType<typeof ev> | null>, t = target): Promise<BatchResult> =>
        applyBatch(db.main.session(t), { topic: 'log', partition: 0, messages: events.map((e, i) => msg(offset + i, e)), now: NOW });
      const id = (user: string, rlabel: number): bigint =>
        packContactId({ aorhash: aorIdentity(target, user, 'example.com').aorhash, rlabel, clabel: 0 });
      const summary = (r: BatchResult): string[] => r.changes.map((c) => `${c.op} ${c.row.username} ${c.row.contactId} cseq ${c.row.cseq}`);

      const first = await apply(0, [ev('UPSERT', 1n, 10n, 'alice'), ev('UPSERT', 2n, 11n, 'bob')]);
      // Within a batch, per kind of write, in contact id order.
      assert.deepEqual(summary(first), [`insert bob ${id('bob', 131073)} cseq 1`, `insert alice ${id('alice', 131072)} cseq 1`]);
      assert.deepEqual(first.changes[1]!.row, {
        contactId: id('alice', 131072),
        username: 'alice',
        domain: 'example.com',
        contact: 'sip:alice@192.0.2.1:5060',
        received: null,
        path: null,
        expires: BigInt(NOW + 3600),
        q: 0.5,
        callid: 'cid-1',
        cseq: 1,
        lastModified: BigInt(NOW), // stored as Berlin wall-clock DATETIME, read back as Unix time
        flags: 0, // as the table holds it (the projection does not copy the legacy FL_ flags)
        cflags: 'NAT',
        userAgent: 'ua',
        socket: 'udp:192.0.2.10:5060',
        methods: null,
        sipInstance: null,
        kvStore: null,
        attr: null,
      });
      // A delete is read before it happens: the row's CSeq as stored, not the event's.
      const second = await apply(2, [ev('UPSERT', 1n, 12n, 'alice', 2), ev('DELETE', 2n, 13n, 'bob', 9)]);
      assert.deepEqual(summary(second), [`delete bob ${id('bob', 131073)} cseq 1`, `update alice ${id('alice', 131072)} cseq 2`]);
      const third = await apply(4, [ev('UPSERT', 3n, 14n, 'carol'), ev('TRUNCATE', 0n, 15n, '')]);
      assert.deepEqual(summary(third), [
        `insert carol ${id('carol', 131074)} cseq 1`,
        `delete carol ${id('carol', 131074)} cseq 1`,
        `delete alice ${id('alice', 131072)} cseq 2`,
      ]);
      const quiet = await apply(6, [ev('UPSERT', 4n, 16n, 'dave')], { ...target, push: false });
      assert.deepEqual({ applied: quiet.applied, changes: quiet.changes }, { applied: 1, changes: [] });
    });
  });
}

/** `partition` is a reserved word in MySQL. */
function quotePartition(d: Dialect): string {
  return d.name === 'mysql' ? '`partition`' : 'partition';
}

/** The MySQL target store: URL schemes, concurrent starts, the session set-up, coded errors. */
function mysqlStore(d: Dialect): void {
  describe('MySQL target store', () => {
    let db: TestDb;
    const t = (url: string, table = 'location'): Target => ({
      ...db.target({ release: '4.0', timeZone: 'UTC', name: 'st' }),
      db: url,
      table,
    });

    before(async () => {
      db = await d.open('pamstore', '4.0');
    });
    after(async () => {
      await db?.drop();
    });

    test('mysql:// and mariadb:// URLs get the MySQL store; its state is created once by concurrent starts; offsets read back', async () => {
      const mariadbUrl = db.url.replace(/^mysql:/, 'mariadb:');
      const a = createTargetStore(t(db.url), { poolSize: 2, logger: silentLogger });
      const b = createTargetStore(t(mariadbUrl), { poolSize: 2, logger: silentLogger });
      try {
        assert.deepEqual([a.dialect, b.dialect], ['mysql', 'mysql']);
        await Promise.all([a.ensureState(), b.ensureState()]);
        // Fetched from 0; compaction removed 0..40.
        const r = await a.applyBatch({
          topic: 'log',
          partition: 2,
          messages: [msg(41, ev('UPSERT', 1n, 1n, 'alice'))],
          fetchedOffset: '0',
          now: NOW,
        });
        assert.equal(r.applied, 1);
        assert.deepEqual([...(await b.storedOffsets('log', [0, 1, 2]))], [[2, '42']]);
        assert.deepEqual([...(await b.storedOffsets('log', []))], []);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('the session set-up: UTC, READ COMMITTED, strict, backslash escapes on, whatever the server default', async () => {
      const raw = await mysql.createConnection(mysqlSessionOptions(db.url));
      try {
        await raw.query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES', time_zone = '-07:00'");
        await prepareMysqlSession(raw);
        const [[got]] = (await raw.query(
          'SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS tz, @@SESSION.tx_isolation AS i',
        )) as unknown as [[Record<string, string>]];
        assert.deepEqual(got, { m: 'ANSI_QUOTES,STRICT_TRANS_TABLES', tz: '+00:00', i: 'READ-COMMITTED' });
      } finally {
        await raw.end();
      }
    });

    test('errors are one coded line: unreachable server, missing table, a MyISAM table', async () => {
      const down = createTargetStore(t('mysql://root@127.0.0.1:1/nodb'), { poolSize: 1, logger: silentLogger });
      await assert.rejects(
        down.ensureState(),
        (e: any) =>
          e.code === 'DB_UNREACHABLE' &&
          e.message ===
            'target "st": cannot connect to MySQL/MariaDB at 127.0.0.1:1 (ECONNREFUSED): check that the server is running and that targets[].db names the right host and port',
      );
      await down.close();

      const missing = createTargetStore(t(db.url, 'nope'), { poolSize: 1, logger: silentLogger });
      await assert.rejects(
        missing.ensureState(),
        (e: any) =>
          e.code === 'TABLE_MISSING' &&
          e.message ===
            'target "st": table "nope" does not exist: create it with OpenSIPS\'s usrloc-create.sql for release 4.0, or fix targets[].table',
      );
      await missing.close();

      await db.main.exec('CREATE TABLE location_myisam (contact_id BIGINT UNSIGNED PRIMARY KEY) ENGINE=MyISAM');
      const myisam = createTargetStore(t(db.url, 'location_myisam'), { poolSize: 1, logger: silentLogger });
      await assert.rejects(
        myisam.ensureState(),
        (e: any) =>
          e.code === 'TARGET_UNSUPPORTED' &&
          e.message ===
            'target "st": table "location_myisam" uses the MyISAM engine; ulbridge commits rows, labels and offsets in one transaction, which needs InnoDB: ALTER TABLE location_myisam ENGINE=InnoDB',
      );
      await myisam.close();
    });
  });
}
