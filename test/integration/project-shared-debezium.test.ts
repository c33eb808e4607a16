import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MysqlSource } from '../../src/cdc/envelope.js';
import { parseJsonText, type JsonObject } from '../../src/cdc/json.js';
import { readSource } from '../../src/cdc/source.js';
import { applyBatch } from '../../src/project/apply.js';
import type { Target } from '../../src/project/target.js';
import { ownWrite, type OwnTxRow, type OwnWriteVerdict } from '../../src/reverse/ownWrites.js';
import { deleteConnector, registerConnector, type ConnectorSpec } from '../../src/stack/connectors.js';
import { logEvent as ev, logMessage as msg, APPLY_NOW } from '../support/logEvents.js';
import { readTopic } from '../support/kafka.js';
import { connectUrl, kafkaBrokers } from '../support/services.js';
import { mariadb, type TestDb } from './project-apply-dialect.js';

// Own writes on a shared MariaDB target, end to end through Debezium: the projection's apply
// transactions and a registrar's writes to the same table, captured by Debezium's MariaDB
// connector; ownWrite() over each change event's real source block and the own_tx rows says
// "own" for exactly the projection's changes (docs/decisions.md, "Own writes on MySQL/MariaDB targets").

let db: TestDb;
let target: Target;
let spec: ConnectorSpec;

before(async () => {
  db = await mariadb.open('pshdbz', '4.0');
  target = db.target({ release: '4.0', timeZone: 'UTC', shared: true });
  await db.ensureState(target);
  spec = {
    name: `own-writes-${db.name.slice(-6)}`,
    kind: 'mariadb',
    url: db.url,
    table: 'location',
    kafkaBrokers: kafkaBrokers(),
    schemas: { key: false, value: false },
  };
});

after(async () => {
  if (spec) await deleteConnector(connectUrl(), spec.name, { cleanup: spec }).catch(() => undefined);
  await db?.drop();
});

test(
  "Debezium's change events of the projection's transactions are its own; the registrar's, between them, are not",
  { timeout: 180_000 },
  async () => {
    const { topic } = await registerConnector(connectUrl(), spec, { waitForSnapshot: true, timeoutMs: 120_000 });
    const apply = (offset: number, events: Parameters<typeof msg>[1][]) =>
      applyBatch(db.main.session(target), {
        topic: 'log',
        partition: 0,
        messages: events.map((e, i) => msg(offset + i, e)),
        fetchedOffset: '0',
        now: APPLY_NOW,
      });
    // The projection inserts two contacts, the registrar inserts one and refreshes one of ulbridge's,
    // the projection deletes the other and writes a newer version of the refreshed one.
    await apply(0, [ev('UPSERT', 1n, 10n, 'alice'), ev('UPSERT', 2n, 11n, 'bob')]);
    const [aliceId] = await db.main.lines(`SELECT CAST(contact_id AS CHAR) FROM location WHERE callid = 'cid-1'`);
    await db.main.exec(
      `INSERT INTO location (contact_id, username, contact, expires, callid, cseq, user_agent) VALUES (42, 'carol', 'sip:carol@198.51.100.1', ${APPLY_NOW + 60}, 'registrar-42', 1, 'registrar')`,
    );
    await db.main.exec(`UPDATE location SET cseq = 2, last_modified = '2025-11-24 16:00:01' WHERE contact_id = ${aliceId}`);
    await apply(10, [ev('DELETE', 2n, 20n, 'bob'), ev('UPSERT', 1n, 21n, 'alice', 3)]);

    // The table was empty at the snapshot: the topic appears with the first streamed change.
    let read: Awaited<ReturnType<typeof readTopic>> | null = null;
    for (let attempt = 0; read === null; attempt++) {
      try {
        read = await readTopic(kafkaBrokers(), topic, 6, { timeoutMs: 60_000, settleMs: 1500 });
      } catch (e) {
        if (attempt >= 60 || !/does not host this topic-partition/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const records = read.filter((r) => r.value !== null);
    const own: OwnTxRow[] = (await db.main.q(`SELECT server_id, fence, gtid, ceiling FROM ${db.stateSchema}.own_tx ORDER BY seq`)).map(
      (r) => ({
        serverId: BigInt(r.server_id!),
        fence: r.fence!,
        gtid: r.gtid ?? null,
        ceiling: r.ceiling ?? null,
      }),
    );
    assert.equal(own.length, 2);
    const seen: Array<[string, string, string, OwnWriteVerdict]> = records.map((r) => {
      const payload = parseJsonText(r.value!, 'value') as JsonObject;
      const source = readSource(payload) as MysqlSource;
      const row = (payload.after ?? payload.before) as JsonObject;
      return [String(payload.op), String(row.callid), String(row.cseq), ownWrite(source, own)];
    });
    assert.deepEqual(seen, [
      ['c', 'cid-1', '1', 'own'],
      ['c', 'cid-2', '1', 'own'],
      ['c', 'registrar-42', '1', 'foreign'],
      ['u', 'cid-1', '2', 'foreign'],
      ['d', 'cid-2', '1', 'own'],
      ['u', 'cid-1', '3', 'own'],
    ]);
  },
);
