import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { applyBatch } from '../../src/project/apply.js';
import type { LogMessage } from '../../src/project/batch.js';
import { pgSession } from '../../src/project/pgSession.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { compileTarget } from '../../src/project/target.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { logEvent, logMessage } from '../support/logEvents.js';
import { freshPostgresDb, type FreshDb } from '../support/services.js';

// The projection's transaction against a real PostgreSQL: exact rows, foreign rows left alone,
// idempotence by offset and by source position, truncate and tombstones.

function scenario(mode: string, copyMinRows: number): void {
  describe(`apply (${mode})`, () => {
    let db: FreshDb;
    let c: pg.Client;
    const target = compileTarget({
      name: 't',
      db: '',
      table: 'location',
      release: '4.0',
      hashSize: 9,
      useDomain: false,
      signedness: 'signed',
      timeZone: 'Europe/Berlin',
      stateSchema: 'ulbridge_t',
    });
    const NOW = 1764000000; // 2025-11-24 16:00:00 UTC

    const ev = logEvent;
    const msg = logMessage;

    async function rows(): Promise<string[]> {
      const r = await c.query(
        `SELECT contact_id::text, username, domain, contact, expires, q, callid, cseq, last_modified::text, flags, cflags FROM location ORDER BY location.contact_id`,
      );
      return r.rows.map((x) => Object.values(x).join('|'));
    }

    const apply = (messages: LogMessage[], partition = 0) =>
      applyBatch(pgSession(c, target, { copyMinRows }), { topic: 'log', partition, messages, now: NOW });

    before(async () => {
      db = await freshPostgresDb('project');
      await createLocationTable(db.url, '4.0');
      c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await ensureStateSchema(c, 'ulbridge_t');
      // A registrar's own row that holds exactly the id ulbridge would give callee's first contact
      // (aorhash 1706, rlabel 131072, clabel 0), and one more of its rows.
      await c.query(
        `INSERT INTO location (contact_id, username, contact, expires, callid, user_agent) VALUES (120049079714578432, 'callee', 'sip:callee@198.51.100.1', ${NOW + 60}, 'foreign-1', 'registrar'), (5, 'other', 'sip:other@198.51.100.2', 0, 'foreign-2', 'registrar')`,
      );
    });

    after(async () => {
      await c?.end();
    });

    const FOREIGN = [
      '5|other||sip:other@198.51.100.2|0|1|foreign-2|13|1900-01-01 00:00:01|0|',
      `120049079714578432|callee||sip:callee@198.51.100.1|${NOW + 60}|1|foreign-1|13|1900-01-01 00:00:01|0|`,
    ];

    test('inserts take the next contact label where a foreign row holds the id, and leave foreign rows alone', async () => {
      const r = await apply([
        msg(0, ev('UPSERT', 1n, 10n, 'callee')),
        msg(1, ev('UPSERT', 2n, 11n, 'callee')),
        msg(2, ev('UPSERT', 3n, 12n, 'bob')),
      ]);
      assert.deepEqual(
        { processed: r.processed, applied: r.applied, nextOffset: r.nextOffset },
        { processed: 3, applied: 3, nextOffset: '3' },
      );
      // last_modified in the target registrar's zone (Europe/Berlin, UTC+1 in November); FL_MEM cleared.
      assert.deepEqual(await rows(), [
        FOREIGN[0],
        FOREIGN[1],
        // cid-1 met the foreign id (clabel 0); clabel 1 was already cid-2's, so cid-1 took clabel 2.
        `120049079714578433|callee|example.com|sip:callee@192.0.2.2:5060|${NOW + 3600}|0.5|cid-2|1|2025-11-24 17:00:00|0|NAT`,
        `120049079714578434|callee|example.com|sip:callee@192.0.2.1:5060|${NOW + 3600}|0.5|cid-1|1|2025-11-24 17:00:00|0|NAT`,
        `932456231245725696|bob|example.com|sip:bob@192.0.2.3:5060|${NOW + 3600}|0.5|cid-3|1|2025-11-24 17:00:00|0|NAT`,
      ]);
    });

    test('a batch at or below the stored offset is skipped; an older source position is ignored', async () => {
      const again = await apply([msg(1, ev('UPSERT', 2n, 11n, 'callee', 99)), msg(2, ev('UPSERT', 3n, 12n, 'bob', 99))]);
      assert.deepEqual({ alreadyApplied: again.alreadyApplied, processed: again.processed }, { alreadyApplied: 2, processed: 0 });
      const stale = await apply([msg(3, ev('UPSERT', 2n, 9n, 'callee', 98))]);
      assert.deepEqual({ stale: stale.stale, applied: stale.applied }, { stale: 1, applied: 0 });
      assert.equal((await c.query(`SELECT cseq FROM location WHERE callid = 'cid-2'`)).rows[0].cseq, 1);
    });

    test("updates keep the id; a delete removes only ulbridge's row; an expired binding has no row", async () => {
      await apply([
        msg(4, ev('UPSERT', 2n, 20n, 'callee', 7)),
        msg(5, ev('DELETE', 1n, 21n, 'callee')),
        msg(6, ev('UPSERT', 3n, 22n, 'bob', 2, BigInt(NOW - 1))),
      ]);
      assert.deepEqual(await rows(), [
        FOREIGN[0],
        FOREIGN[1],
        `120049079714578433|callee|example.com|sip:callee@192.0.2.2:5060|${NOW + 3600}|0.5|cid-2|7|2025-11-24 17:00:00|0|NAT`,
      ]);
      // bob's refresh brings the row back with the id it had.
      await apply([msg(7, ev('UPSERT', 3n, 23n, 'bob', 3))]);
      assert.equal((await c.query(`SELECT contact_id::text AS id FROM location WHERE callid = 'cid-3'`)).rows[0].id, '932456231245725696');
    });

    test('a tombstone whose DELETE was compacted away deletes the binding; TRUNCATE removes every row of the source in the partition', async () => {
      await apply([msg(8, null, 'legacy:3')]);
      assert.equal((await c.query(`SELECT count(*)::int AS n FROM location WHERE callid = 'cid-3'`)).rows[0].n, 0);
      await apply([msg(9, ev('UPSERT', 4n, 30n, 'carol')), msg(10, ev('TRUNCATE', 0n, 31n, '')), msg(11, ev('UPSERT', 5n, 32n, 'dave'))]);
      const left = await c.query(`SELECT callid FROM location ORDER BY callid`);
      assert.deepEqual(
        left.rows.map((r) => r.callid),
        ['cid-5', 'foreign-1', 'foreign-2'],
      );
      const state = await c.query(`SELECT binding, contact_id IS NOT NULL AS live, in_target FROM ulbridge_t.bindings ORDER BY binding`);
      assert.deepEqual(
        state.rows.map((r) => `${r.binding}:${r.live}:${r.in_target}`),
        ['legacy:1:false:false', 'legacy:2:false:false', 'legacy:3:false:false', 'legacy:4:false:false', 'legacy:5:true:true'],
      );
    });

    test('events OpenSIPS could not load go to dead letters and are not written', async () => {
      const r = await apply([msg(12, ev('UPSERT', 6n, 40n, ''))]);
      // Every letter carries its source position and the record's bytes.
      assert.deepEqual(
        r.deadLetters.map((d) => [
          d.reason,
          d.message,
          d.offset,
          d.key?.toString(),
          d.value?.equals(msg(12, ev('UPSERT', 6n, 40n, '')).value!),
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
        bad.deadLetters.map((d) => [d.reason, d.message, d.offset]),
        [['UNDECODABLE_LOG_EVENT', 'not an Avro single-object encoded message (missing C3 01 header)', '13']],
      );
      assert.equal((await c.query(`SELECT next_offset::int AS n FROM ulbridge_t.offsets WHERE partition = 0`)).rows[0].n, 14);
    });

    test('a batch fetched from above the stored next offset is not applied; fetched again from the stored offset, it is', async () => {
      const before = await rows();
      // Partition 3 never applied (stored next offset 0); a consumer resuming at Kafka's group offset 500.
      const first = msg(0, ev('UPSERT', 7000n, 20000n, 'gapuser'));
      const later = msg(500, ev('UPSERT', 7001n, 20001n, 'gapuser'));
      const gap = await applyBatch(pgSession(c, target, { copyMinRows }), {
        topic: 'log',
        partition: 3,
        messages: [later],
        fetchedOffset: '500',
        now: NOW,
      });
      assert.deepEqual(
        { processed: gap.processed, applied: gap.applied, nextOffset: gap.nextOffset, resumeAt: gap.resumeAt },
        { processed: 0, applied: 0, nextOffset: null, resumeAt: '0' },
      );
      assert.deepEqual(await rows(), before);
      assert.deepEqual((await c.query(`SELECT next_offset FROM ulbridge_t.offsets WHERE partition = 3`)).rows, [], 'nothing stored');
      // From the stored offset (compaction removed 1..499): applied; the consumer's end of the batch is stored.
      const again = await applyBatch(pgSession(c, target, { copyMinRows }), {
        topic: 'log',
        partition: 3,
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
        (await c.query(`SELECT callid FROM location WHERE username = 'gapuser' ORDER BY callid`)).rows.map((x) => x.callid),
        ['cid-7000', 'cid-7001'],
      );
      // One above the stored offset is a gap as well.
      const one = await applyBatch(pgSession(c, target, { copyMinRows }), {
        topic: 'log',
        partition: 3,
        messages: [msg(503, ev('UPSERT', 7002n, 20002n, 'gapuser'))],
        now: NOW,
      });
      assert.equal(one.resumeAt, '502');
    });

    test('values with tabs, newlines and backslashes are written exactly; a rolled-back first transaction leaves the connection usable', async () => {
      const odd = ev('UPSERT', 8n, 50n, 'erin');
      odd.registration!.contact = 'sip:erin@192.0.2.8;x="a\nb\rc"';
      odd.registration!.userAgent = 'ua\twith\ttabs \\ and \\N';
      odd.registration!.kvStore = '{"k":"\\t"}';
      // A fresh connection whose first transaction fails after it created its stage tables.
      const c2 = new pg.Client({ connectionString: db.url });
      await c2.connect();
      try {
        const failing = applyBatch(pgSession(c2, target, { copyMinRows }), {
          topic: 'log',
          partition: 1,
          messages: [msg(0, odd), msg(1, ev('UPSERT', 9n, 51n, ''))],
          now: NOW,
          deadLetter: async () => {
            throw new Error('dead-letter topic down');
          },
        });
        await assert.rejects(failing, /dead-letter topic down/);
        assert.equal((await c.query(`SELECT count(*)::int AS n FROM location WHERE callid = 'cid-8'`)).rows[0].n, 0);
        const r = await applyBatch(pgSession(c2, target, { copyMinRows }), {
          topic: 'log',
          partition: 1,
          messages: [msg(0, odd)],
          now: NOW,
        });
        assert.equal(r.applied, 1);
      } finally {
        await c2.end();
      }
      const got = await c.query(`SELECT contact, user_agent, kv_store FROM location WHERE callid = 'cid-8'`);
      assert.deepEqual(got.rows, [
        { contact: odd.registration!.contact, user_agent: odd.registration!.userAgent, kv_store: odd.registration!.kvStore },
      ]);
    });

    test('a batch of 1,000 new bindings over 300 AORs, then their refreshes: one row each, ids unique and kept', async () => {
      const first: LogMessage[] = [];
      const again: LogMessage[] = [];
      for (let i = 0; i < 1000; i++) {
        first.push(msg(i, ev('UPSERT', BigInt(1000 + i), BigInt(1000 + i), `user${i % 300}`)));
        again.push(msg(1000 + i, ev('UPSERT', BigInt(1000 + i), BigInt(5000 + i), `user${i % 300}`, 2)));
      }
      const r = await applyBatch(pgSession(c, target, { copyMinRows }), { topic: 'log', partition: 2, messages: first, now: NOW });
      assert.deepEqual({ applied: r.applied, nextOffset: r.nextOffset }, { applied: 1000, nextOffset: '1000' });
      const before = await c.query(`SELECT callid, contact_id::text AS id FROM location WHERE username LIKE 'user%' ORDER BY callid`);
      assert.equal(new Set(before.rows.map((x) => x.id)).size, 1000);
      await applyBatch(pgSession(c, target, { copyMinRows }), { topic: 'log', partition: 2, messages: again, now: NOW });
      const after = await c.query(`SELECT callid, contact_id::text AS id, cseq FROM location WHERE username LIKE 'user%' ORDER BY callid`);
      assert.deepEqual(
        after.rows.map((x) => `${x.callid}:${x.id}`),
        before.rows.map((x) => `${x.callid}:${x.id}`),
      );
      assert.ok(after.rows.every((x) => x.cseq === 2));
      const st = await c.query(
        `SELECT count(*)::int AS n, min(pos_major)::int AS lo FROM ulbridge_t.bindings WHERE log_partition = 2 AND in_target`,
      );
      assert.deepEqual(st.rows[0], { n: 1000, lo: 5000 });
    });

    test('a contact label counter that wraps past 16383 skips the labels of live bindings', async () => {
      // user0 holds clabels 0-3 (previous test); put its counter just below the wrap.
      await c.query(`UPDATE ulbridge_t.aors SET next_clabel = 16382 WHERE aor = 'user0'`);
      const more: LogMessage[] = [];
      for (let i = 0; i < 4; i++) more.push(msg(2000 + i, ev('UPSERT', BigInt(3000 + i), BigInt(9000 + i), 'user0')));
      await applyBatch(pgSession(c, target, { copyMinRows }), { topic: 'log', partition: 2, messages: more, now: NOW });
      const labels = await c.query(
        `SELECT source_row_key::int AS k, clabel FROM ulbridge_t.bindings WHERE aor = 'user0' AND contact_id IS NOT NULL ORDER BY source_row_key`,
      );
      assert.deepEqual(
        labels.rows.map((r) => `${r.k}:${r.clabel}`),
        ['1000:0', '1300:1', '1600:2', '1900:3', '3000:16382', '3001:16383', '3002:4', '3003:5'],
      );
      const aor = await c.query(`SELECT next_clabel, wrapped FROM ulbridge_t.aors WHERE aor = 'user0'`);
      assert.deepEqual(aor.rows[0], { next_clabel: 6, wrapped: true });
      const ids = await c.query(`SELECT count(DISTINCT contact_id)::int AS n FROM location WHERE username = 'user0'`);
      assert.equal(ids.rows[0].n, 8);
    });
  });
}

// Small batches send UNNEST arrays; from copyMinRows rows on, COPY into stage tables. Both paths, same rows.
scenario('UNNEST', Number.MAX_SAFE_INTEGER);
scenario('COPY into stage tables', 0);
