import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import type { BatchResult, LogMessage } from '../../src/project/batch.js';
import { applyBatch } from '../../src/project/apply.js';
import { mysqlSession } from '../../src/project/mysqlSession.js';
import { ensureMysqlState } from '../../src/project/mysqlState.js';
import { mysqlSessionOptions, prepareMysqlSession } from '../../src/project/mysqlStore.js';
import { createTargetStore } from '../../src/project/openTargetStore.js';
import { aorIdentity, compileTarget, type Target } from '../../src/project/target.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { silentLogger } from '../../src/ops/logger.js';
import { logEvent, logMessage } from '../support/logEvents.js';
import { freshMariaDb, mariaDbUrl, type FreshDb } from '../support/services.js';

// The projection's transaction against a real MariaDB, for a 2.4+ (4.0) and a 2.2 table: exact
// rows and ids, foreign rows left alone, idempotence by offset and by source position, truncate and
// tombstones, DATETIME in the registrar's zone, rollback, two instances on one partition.

const NOW = 1764000000; // 2025-11-24 16:00:00 UTC = 17:00:00 in Europe/Berlin

async function session(url: string): Promise<mysql.Connection> {
  const c = await mysql.createConnection(mysqlSessionOptions(url));
  await prepareMysqlSession(c);
  return c;
}

function scenario(release: '4.0' | '2.2', rowsPerStatement: number): void {
  describe(`MySQL apply (${release} table, at most ${rowsPerStatement} rows per statement)`, () => {
    let db: FreshDb;
    let c: mysql.Connection;
    /** Reads with a session time zone far from UTC and Berlin: DATETIME values must not move. */
    let reader: mysql.Connection;
    let target: Target;
    const dt = release === '2.2';
    // expires as the table holds it: unix seconds (4.0) or Berlin wall-clock DATETIME (2.2).
    const exp = (unix: number, berlin: string): string => (dt ? berlin : String(unix));

    const ev = logEvent;
    const msg = logMessage;
    /** The id ulbridge gives `user`'s contact with these labels. */
    const idOf = (user: string, rlabel: number, clabel: number): string =>
      packContactId({ aorhash: aorIdentity(target, user, 'example.com').aorhash, rlabel, clabel }).toString();

    async function q<T = Record<string, unknown>>(sql: string, conn = reader): Promise<T[]> {
      const [r] = await conn.query(sql);
      return r as T[];
    }
    async function rows(): Promise<string[]> {
      const r = await q(
        `SELECT CAST(contact_id AS CHAR) AS id, username, domain, contact, expires, q, callid, cseq, last_modified, flags, cflags FROM location ORDER BY contact_id`,
      );
      return r.map((x) => Object.values(x).join('|'));
    }
    const sorted = (lines: string[]): string[] => [...lines].sort((a, b) => (BigInt(a.split('|')[0]!) < BigInt(b.split('|')[0]!) ? -1 : 1));
    const state = async (sql: string): Promise<string[]> =>
      (await q(sql)).map((x) =>
        Object.values(x)
          .map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v))
          .join(':'),
      );

    const apply = (messages: LogMessage[], partition = 0, conn = c) =>
      applyBatch(mysqlSession(conn, target, { rowsPerStatement }), { topic: 'log', partition, messages, now: NOW });

    let FOREIGN: string[];

    before(async () => {
      db = await freshMariaDb(`pam${release.replace('.', '')}`);
      target = compileTarget({
        name: 't',
        db: db.url,
        table: 'location',
        release,
        hashSize: 9,
        useDomain: false,
        signedness: 'signed',
        timeZone: 'Europe/Berlin',
        stateSchema: `${db.name}_st`,
      });
      await createLocationTable(db.url, release);
      c = await session(db.url);
      reader = await mysql.createConnection({ ...mysqlSessionOptions(db.url) });
      await reader.query("SET time_zone = '+05:00'");
      assert.deepEqual(await ensureMysqlState(c, target), { charAorColumns: { username: true, domain: true } });
      // The first batch creates AORs bob and callee; new AORs of a batch take labels in byte
      // order, so bob gets 131072 and callee 131073. A registrar's own rows hold callee's clabels
      // 0 and 2, and one more of its rows holds id 5.
      const e60 = dt ? "'2025-11-24 17:01:00'" : String(NOW + 60);
      const e0 = dt ? "'1970-01-01 01:00:00'" : '0';
      await c.query(
        `INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES
           (${idOf('callee', 131073, 0)}, 'callee', 'sip:callee@198.51.100.1', ${e60}, 'foreign-1', 'registrar'),
           (${idOf('callee', 131073, 2)}, 'callee', 'sip:callee@198.51.100.3', ${e60}, 'foreign-3', 'registrar'),
           (5, 'other', 'sip:other@198.51.100.2', ${e0}, 'foreign-2', 'registrar')`,
      );
      FOREIGN = [
        `5|other||sip:other@198.51.100.2|${exp(0, '1970-01-01 01:00:00')}|1|foreign-2|13|1900-01-01 00:00:01|0|`,
        `${idOf('callee', 131073, 0)}|callee||sip:callee@198.51.100.1|${exp(NOW + 60, '2025-11-24 17:01:00')}|1|foreign-1|13|1900-01-01 00:00:01|0|`,
        `${idOf('callee', 131073, 2)}|callee||sip:callee@198.51.100.3|${exp(NOW + 60, '2025-11-24 17:01:00')}|1|foreign-3|13|1900-01-01 00:00:01|0|`,
      ];
    });

    after(async () => {
      await c?.end().catch(() => undefined);
      await reader?.end().catch(() => undefined);
      if (db) {
        const admin = await mysql.createConnection({ uri: mariaDbUrl() });
        await admin.query(`DROP DATABASE IF EXISTS \`${target.stateSchema}\``);
        await admin.end();
        await db.drop();
      }
    });

    test('inserts take the next free contact label where foreign rows hold ids, and leave foreign rows alone; state commits with the rows', async () => {
      const r = await apply([
        msg(0, ev('UPSERT', 1n, 10n, 'callee')),
        msg(1, ev('UPSERT', 2n, 11n, 'callee')),
        msg(2, ev('UPSERT', 3n, 12n, 'bob')),
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
          `${idOf('callee', 131073, 1)}|callee|example.com|sip:callee@192.0.2.2:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-2|1|2025-11-24 17:00:00|0|NAT`,
          `${idOf('callee', 131073, 3)}|callee|example.com|sip:callee@192.0.2.1:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-1|1|2025-11-24 17:00:00|0|NAT`,
          `${idOf('bob', 131072, 0)}|bob|example.com|sip:bob@192.0.2.3:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-3|1|2025-11-24 17:00:00|0|NAT`,
        ]),
      );
      assert.deepEqual(await state(`SELECT aor, rlabel, next_clabel, wrapped FROM \`${target.stateSchema}\`.aors ORDER BY aor`), [
        'bob:131072:1:0',
        'callee:131073:4:0',
      ]);
      assert.deepEqual(
        await state(
          `SELECT binding, source_name, source_row_key, log_partition, aor, clabel, CAST(contact_id AS CHAR), in_target, pos_major, pos_minor, pos_seq FROM \`${target.stateSchema}\`.bindings ORDER BY binding`,
        ),
        [
          `legacy:1:legacy:1:0:callee:3:${idOf('callee', 131073, 3)}:1:10:1:0`,
          `legacy:2:legacy:2:0:callee:1:${idOf('callee', 131073, 1)}:1:11:1:0`,
          `legacy:3:legacy:3:0:bob:0:${idOf('bob', 131072, 0)}:1:12:1:0`,
        ],
      );
      assert.deepEqual(await state(`SELECT topic, \`partition\`, next_offset FROM \`${target.stateSchema}\`.offsets`), ['log:0:3']);
    });

    test('a batch at or below the stored offset is skipped; an older source position is ignored', async () => {
      const before = await rows();
      const again = await apply([
        msg(0, ev('UPSERT', 1n, 10n, 'callee', 99)),
        msg(1, ev('UPSERT', 2n, 11n, 'callee', 99)),
        msg(2, ev('UPSERT', 3n, 12n, 'bob', 99)),
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
      assert.deepEqual(
        await rows(),
        sorted([
          ...FOREIGN,
          `${idOf('callee', 131073, 1)}|callee|example.com|sip:callee@192.0.2.2:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-2|7|2025-11-24 17:00:00|0|NAT`,
        ]),
      );
      // bob's refresh brings the row back with the id it had; a permanent registration (expires 0)
      // is localtime(0) on a DATETIME table.
      await apply([msg(7, ev('UPSERT', 3n, 23n, 'bob', 3, 0n))]);
      assert.deepEqual(
        await rows(),
        sorted([
          ...FOREIGN,
          `${idOf('callee', 131073, 1)}|callee|example.com|sip:callee@192.0.2.2:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-2|7|2025-11-24 17:00:00|0|NAT`,
          `${idOf('bob', 131072, 0)}|bob|example.com|sip:bob@192.0.2.3:5060|${exp(0, '1970-01-01 01:00:00')}|0.5|cid-3|3|2025-11-24 17:00:00|0|NAT`,
        ]),
      );
    });

    test('a tombstone whose DELETE was compacted away deletes the binding; TRUNCATE removes every row of the source in the partition', async () => {
      await apply([msg(8, null, 'legacy:3')]);
      assert.deepEqual((await q(`SELECT callid FROM location WHERE callid = 'cid-3'`)).length, 0);
      const r = await apply([
        msg(9, ev('UPSERT', 4n, 30n, 'carol')),
        msg(10, ev('TRUNCATE', 0n, 31n, '')),
        msg(11, ev('UPSERT', 5n, 32n, 'dave')),
      ]);
      assert.deepEqual({ applied: r.applied, nextOffset: r.nextOffset }, { applied: 3, nextOffset: '12' });
      assert.deepEqual(
        await rows(),
        sorted([
          ...FOREIGN,
          `${idOf('dave', 131075, 0)}|dave|example.com|sip:dave@192.0.2.5:5060|${exp(NOW + 3600, '2025-11-24 18:00:00')}|0.5|cid-5|1|2025-11-24 17:00:00|0|NAT`,
        ]),
      );
      assert.deepEqual(
        await state(
          `SELECT binding, contact_id IS NOT NULL, in_target, pos_major FROM \`${target.stateSchema}\`.bindings ORDER BY binding`,
        ),
        ['legacy:1:0:0:21', 'legacy:2:0:0:31', 'legacy:3:0:0:23', 'legacy:4:0:0:31', 'legacy:5:1:1:32'],
      );
      // AORs keep their labels after their bindings are gone.
      assert.deepEqual(await state(`SELECT aor, rlabel FROM \`${target.stateSchema}\`.aors ORDER BY rlabel`), [
        'bob:131072',
        'callee:131073',
        'carol:131074',
        'dave:131075',
      ]);
    });

    test('events OpenSIPS could not load go to dead letters and are not written', async () => {
      const r = await apply([msg(12, ev('UPSERT', 6n, 40n, ''))]);
      assert.deepEqual(
        r.deadLetters.map((d) => [d.reason, d.message, d.offset, d.key?.toString()]),
        [
          [
            'UNLOADABLE_AOR',
            'binding legacy:6: empty username record; OpenSIPS would skip this row, so it is not written',
            '12',
            'legacy:6',
          ],
        ],
      );
      const bad = await apply([{ offset: '13', key: Buffer.from('legacy:7'), value: Buffer.from('{"op":"c"}') }]);
      assert.deepEqual(
        bad.deadLetters.map((d) => [d.reason, d.message]),
        [['UNDECODABLE_LOG_EVENT', 'not an Avro single-object encoded message (missing C3 01 header)']],
      );
      assert.deepEqual(await state(`SELECT next_offset FROM \`${target.stateSchema}\`.offsets WHERE \`partition\` = 0`), ['14']);
    });

    test('a failure before COMMIT leaves nothing; values with quotes, tabs, newlines, backslashes and non-ASCII AORs are written exactly', async () => {
      const odd = ev('UPSERT', 8n, 50n, 'jürgen');
      odd.registration!.contact = `sip:j@192.0.2.8;x="a\nb\rc";y='q'`;
      odd.registration!.userAgent = 'ua\twith\ttabs \\ and \\N';
      if (!dt) odd.registration!.kvStore = '{"k":"\\t"}';
      const snapshot = async () => [
        await rows(),
        await state(`SELECT binding FROM \`${target.stateSchema}\`.bindings`),
        await state(`SELECT aor FROM \`${target.stateSchema}\`.aors`),
        await state(`SELECT \`partition\`, next_offset FROM \`${target.stateSchema}\`.offsets`),
      ];
      const before = await snapshot();
      const failing = applyBatch(mysqlSession(c, target, { rowsPerStatement }), {
        topic: 'log',
        partition: 1,
        messages: [msg(0, odd), msg(1, ev('UPSERT', 9n, 51n, ''))],
        now: NOW,
        deadLetter: async () => {
          throw new Error('dead-letter topic down');
        },
      });
      await assert.rejects(failing, /dead-letter topic down/);
      assert.deepEqual(await snapshot(), before, 'rows, bindings, AORs and offsets all rolled back');
      const r = await apply([msg(0, odd)], 1);
      assert.equal(r.applied, 1);
      // The AOR insert of the failed transaction consumed 131076: labels are never reused.
      const [row] = await q<Record<string, unknown>>(
        `SELECT CAST(contact_id AS CHAR) AS id, HEX(username) AS u, contact, user_agent${dt ? '' : ', kv_store'} FROM location WHERE callid = 'cid-8'`,
      );
      assert.deepEqual(row, {
        id: idOf('jürgen', 131077, 0),
        u: Buffer.from('jürgen', 'utf8').toString('hex').toUpperCase(),
        contact: odd.registration!.contact,
        user_agent: odd.registration!.userAgent,
        ...(dt ? {} : { kv_store: odd.registration!.kvStore }),
      });
    });

    test('two instances given one partition serialise on the offsets row: the second skips what the first applied', async () => {
      const other = await session(db.url);
      try {
        const batch = [msg(0, ev('UPSERT', 60n, 60n, 'frank')), msg(1, ev('UPSERT', 61n, 61n, 'grace'))];
        const [a, b] = await Promise.all([apply(batch, 3, c), apply(batch, 3, other)]);
        assert.deepEqual([a.applied + b.applied, a.alreadyApplied + b.alreadyApplied], [2, 2]);
        assert.deepEqual(
          (await q(`SELECT callid FROM location WHERE callid IN ('cid-60', 'cid-61') ORDER BY callid`)).map((x) => x.callid),
          ['cid-60', 'cid-61'],
        );
        assert.deepEqual(await state(`SELECT next_offset FROM \`${target.stateSchema}\`.offsets WHERE \`partition\` = 3`), ['2']);
      } finally {
        await other.end();
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
      const before = await q(`SELECT callid, CAST(contact_id AS CHAR) AS id FROM location WHERE username LIKE 'user%' ORDER BY callid`);
      assert.equal(new Set(before.map((x) => x.id)).size, 1000);
      await apply(again, 2);
      const after = await q(
        `SELECT callid, CAST(contact_id AS CHAR) AS id, cseq FROM location WHERE username LIKE 'user%' ORDER BY callid`,
      );
      assert.deepEqual(
        after.map((x) => `${x.callid}:${x.id}`),
        before.map((x) => `${x.callid}:${x.id}`),
      );
      assert.ok(after.every((x) => x.cseq === 2));
      assert.deepEqual(
        await state(`SELECT COUNT(*), MIN(pos_major) FROM \`${target.stateSchema}\`.bindings WHERE log_partition = 2 AND in_target`),
        ['1000:5000'],
      );
    });

    test('a contact label counter that wraps past 16383 skips the labels of live bindings', async () => {
      // user0 holds clabels 0-3 (previous test); put its counter just below the wrap.
      await c.query(`UPDATE \`${target.stateSchema}\`.aors SET next_clabel = 16382 WHERE aor = 'user0'`);
      const more: LogMessage[] = [];
      for (let i = 0; i < 4; i++) more.push(msg(2000 + i, ev('UPSERT', BigInt(3000 + i), BigInt(9000 + i), 'user0')));
      await apply(more, 2);
      assert.deepEqual(
        await state(
          `SELECT source_row_key, clabel FROM \`${target.stateSchema}\`.bindings WHERE aor = 'user0' AND contact_id IS NOT NULL ORDER BY source_row_key`,
        ),
        ['1000:0', '1300:1', '1600:2', '1900:3', '3000:16382', '3001:16383', '3002:4', '3003:5'],
      );
      assert.deepEqual(await state(`SELECT next_clabel, wrapped FROM \`${target.stateSchema}\`.aors WHERE aor = 'user0'`), ['6:1']);
      assert.deepEqual(await state(`SELECT COUNT(DISTINCT contact_id) FROM location WHERE username = 'user0'`), ['8']);
    });

    test("a DB-only registrar that took max+1 .. max+100 after ulbridge's highest id: the next contact skips the whole run in one batch", async () => {
      await apply([msg(0, ev('UPSERT', 7000n, 7000n, 'zed'))], 4);
      const [{ id: first }] = (await q<{ id: string }>(
        `SELECT CAST(contact_id AS CHAR) AS id FROM location WHERE callid = 'cid-7000'`,
      )) as [{ id: string }];
      const rlabel = Number((BigInt(first) >> 14n) & 0xffffffffn);
      assert.equal(first, idOf('zed', rlabel, 0));
      const run = Array.from(
        { length: 100 },
        (_, i) =>
          `(${BigInt(first) + BigInt(i + 1)}, 'reg${i}', 'sip:reg@198.51.100.9', ${dt ? "'2025-11-24 17:01:00'" : NOW + 60}, 'registrar-${i}', 'registrar')`,
      );
      await c.query(`INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES ${run.join(', ')}`);
      const r = await apply([msg(1, ev('UPSERT', 7001n, 7001n, 'zed'))], 4);
      assert.equal(r.applied, 1);
      assert.deepEqual(await state(`SELECT callid, CAST(contact_id AS CHAR) FROM location WHERE username = 'zed' ORDER BY contact_id`), [
        `cid-7000:${first}`,
        `cid-7001:${idOf('zed', rlabel, 101)}`,
      ]);
      assert.deepEqual(
        await state(
          `SELECT COUNT(*), MIN(contact_id) - ${first}, MAX(contact_id) - ${first} FROM location WHERE user_agent = 'registrar' AND callid LIKE 'registrar-%'`,
        ),
        ['100:1:100'],
      );
    });

    test('a registrar inserting the planned id while the batch runs: the INSERT fails on it, only that statement rolls back, the binding takes the next label', async () => {
      const [{ n }] = (await q<{ n: number }>(`SELECT next_clabel AS n FROM \`${target.stateSchema}\`.aors WHERE aor = 'callee'`)) as [
        { n: number },
      ];
      const registrar = await mysql.createConnection(mysqlSessionOptions(db.url));
      try {
        // Not committed yet: invisible to the batch's lookup, but its INSERT waits for this lock.
        await registrar.query(
          `START TRANSACTION; INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES (${idOf('callee', 131073, n)}, 'callee', 'sip:callee@198.51.100.7', ${dt ? "'2025-11-24 17:01:00'" : NOW + 60}, 'foreign-race', 'registrar')`,
        );
        const applying = apply([msg(0, ev('UPSERT', 7100n, 7100n, 'callee'))], 5);
        await new Promise((r) => setTimeout(r, 300));
        await registrar.query('COMMIT');
        assert.equal((await applying).applied, 1);
      } finally {
        await registrar.end();
      }
      assert.deepEqual(
        await state(
          `SELECT callid, CAST(contact_id AS CHAR) FROM location WHERE callid IN ('foreign-race', 'cid-7100') ORDER BY contact_id`,
        ),
        [`foreign-race:${idOf('callee', 131073, n)}`, `cid-7100:${idOf('callee', 131073, n + 1)}`],
      );
    });

    test('one use_domain=0 AOR created by two partitions at once: the later transaction waits, then uses the AOR the first committed', async () => {
      const other = await session(db.url);
      try {
        const later: { batch?: Promise<BatchResult> } = {};
        // The first batch pauses before COMMIT (in its dead-letter hook) while the second starts.
        const first = await applyBatch(mysqlSession(c, target, { rowsPerStatement }), {
          topic: 'log',
          partition: 6,
          now: NOW,
          messages: [msg(0, ev('UPSERT', 7200n, 7200n, 'heidi')), msg(1, ev('UPSERT', 7201n, 7201n, ''))],
          deadLetter: async () => {
            later.batch = apply([msg(0, ev('UPSERT', 7202n, 7202n, 'heidi'))], 7, other);
            later.batch.catch(() => undefined); // awaited below
            await new Promise((r) => setTimeout(r, 300));
          },
        });
        const second = await later.batch!;
        assert.deepEqual([first.deadLetters.length, second.applied], [1, 1]);
      } finally {
        await other.end();
      }
      const [{ r }] = (await q<{ r: number }>(`SELECT rlabel AS r FROM \`${target.stateSchema}\`.aors WHERE aor = 'heidi'`)) as [
        { r: number },
      ];
      assert.deepEqual(await state(`SELECT callid, CAST(contact_id AS CHAR) FROM location WHERE username = 'heidi' ORDER BY contact_id`), [
        `cid-7200:${idOf('heidi', r, 0)}`,
        `cid-7202:${idOf('heidi', r, 1)}`,
      ]);
    });

    test('a batch fetched from above the stored next offset is not applied; fetched again from the stored offset, it is', async () => {
      const before = await rows();
      const first = msg(0, ev('UPSERT', 7000n, 20000n, 'gapuser'));
      const later = msg(500, ev('UPSERT', 7001n, 20001n, 'gapuser'));
      const gap = await applyBatch(mysqlSession(c, target, { rowsPerStatement }), {
        topic: 'log',
        partition: 11,
        messages: [later],
        fetchedOffset: '500',
        now: NOW,
      });
      assert.deepEqual(
        { processed: gap.processed, applied: gap.applied, nextOffset: gap.nextOffset, resumeAt: gap.resumeAt },
        { processed: 0, applied: 0, nextOffset: null, resumeAt: '0' },
      );
      assert.deepEqual(await rows(), before);
      assert.deepEqual(
        await state(`SELECT next_offset FROM \`${target.stateSchema}\`.offsets WHERE \`partition\` = 11`),
        [],
        'nothing stored',
      );
      const again = await applyBatch(mysqlSession(c, target, { rowsPerStatement }), {
        topic: 'log',
        partition: 11,
        messages: [first, later],
        fetchedOffset: '0',
        endOffset: '502',
        now: NOW,
      });
      assert.deepEqual(
        { applied: again.applied, nextOffset: again.nextOffset, resumeAt: again.resumeAt },
        { applied: 2, nextOffset: '502', resumeAt: null },
      );
      assert.deepEqual(
        (await q<{ callid: string }>(`SELECT callid FROM location WHERE username = 'gapuser' ORDER BY callid`)).map((x) => x.callid),
        ['cid-7000', 'cid-7001'],
      );
      const one = await applyBatch(mysqlSession(c, target, { rowsPerStatement }), {
        topic: 'log',
        partition: 11,
        messages: [msg(503, ev('UPSERT', 7002n, 20002n, 'gapuser'))],
        now: NOW,
      });
      assert.equal(one.resumeAt, '502');
    });
  });
}

// One multi-row statement per write, and statements of two rows (the cutting path).
scenario('4.0', 1000);
scenario('2.2', 2);

describe('MySQL target store', () => {
  let db: FreshDb;
  const t = (url: string, extra: Partial<Parameters<typeof compileTarget>[0]> = {}) =>
    compileTarget({
      name: 'st',
      db: url,
      table: 'location',
      release: '4.0',
      hashSize: 9,
      useDomain: false,
      signedness: 'signed',
      timeZone: 'UTC',
      stateSchema: `${db.name}_st`,
      ...extra,
    });

  before(async () => {
    db = await freshMariaDb('pamstore');
    await createLocationTable(db.url, '4.0');
  });
  after(async () => {
    const admin = await mysql.createConnection({ uri: mariaDbUrl() });
    await admin.query(`DROP DATABASE IF EXISTS \`${db.name}_st\``);
    await admin.end();
    await db?.drop();
  });

  test('mysql:// and mariadb:// URLs get the MySQL store; its state is created once by concurrent starts; offsets read back', async () => {
    const mariadbUrl = db.url.replace(/^mysql:/, 'mariadb:');
    const a = createTargetStore(t(db.url), { poolSize: 2, logger: silentLogger });
    const b = createTargetStore(t(mariadbUrl), { poolSize: 2, logger: silentLogger });
    try {
      assert.deepEqual([a.dialect, b.dialect], ['mysql', 'mysql']);
      await Promise.all([a.ensureState(), b.ensureState()]);
      const e = (n: number, user: string): RegistrationEvent => ({
        op: 'UPSERT',
        source: {
          name: 'legacy',
          release: '2.1',
          connector: 'MYSQL',
          table: 'location',
          rowKey: BigInt(n),
          position: { major: 1n, minor: BigInt(n), seq: 1n },
          snapshot: false,
          tsMs: 0n,
        },
        registration: {
          username: user,
          domain: null,
          contact: 'sip:x@192.0.2.1',
          received: null,
          path: null,
          expires: 0n,
          q: 1,
          callid: `c${n}`,
          cseq: 1,
          lastModified: BigInt(NOW),
          flags: 0,
          cflags: null,
          userAgent: '',
          socket: null,
          methods: null,
          sipInstance: null,
          kvStore: null,
          attr: null,
        },
      });
      // Fetched from 0; compaction removed 0..40.
      const r = await a.applyBatch({
        topic: 'log',
        partition: 2,
        messages: [{ offset: '41', key: Buffer.from('legacy:1'), value: encodeEvent(e(1, 'alice')) }],
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
    const c = await mysql.createConnection(mysqlSessionOptions(db.url));
    try {
      await c.query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES', time_zone = '-07:00'");
      await prepareMysqlSession(c);
      const [[got]] = (await c.query(
        'SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS tz, @@SESSION.tx_isolation AS i',
      )) as unknown as [[Record<string, string>]];
      assert.deepEqual(got, { m: 'ANSI_QUOTES,STRICT_TRANS_TABLES', tz: '+00:00', i: 'READ-COMMITTED' });
    } finally {
      await c.end();
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

    const missing = createTargetStore(t(db.url, { table: 'nope' }), { poolSize: 1, logger: silentLogger });
    await assert.rejects(
      missing.ensureState(),
      (e: any) =>
        e.code === 'TABLE_MISSING' &&
        e.message ===
          'target "st": table "nope" does not exist: create it with OpenSIPS\'s usrloc-create.sql for release 4.0, or fix targets[].table',
    );
    await missing.close();

    const c = await mysql.createConnection({ uri: db.url });
    await c.query('CREATE TABLE location_myisam (contact_id BIGINT UNSIGNED PRIMARY KEY) ENGINE=MyISAM');
    await c.end();
    const myisam = createTargetStore(t(db.url, { table: 'location_myisam' }), { poolSize: 1, logger: silentLogger });
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
