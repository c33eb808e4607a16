/**
 * The cluster push (src/push/clusterPush.ts) between a real target database (PostgreSQL and
 * MariaDB, written by the real applier) and a registrar node. The registrar here is the scripted
 * clusterer node of test/support/clusterPeer.ts: issue 12's CI stand-in, which speaks the node
 * protocol real OpenSIPS 3.5/3.6/4.0 accepted (docs/cluster-protocol.md §7) and records every
 * packet; the real-OpenSIPS proof is the opt-in test/e2e/cluster-push.test.ts. Checked here: the
 * exact packets for committed changes, the replay a node gets when it comes up (before any new
 * change, which is held and sent after), the replay after a restart with the deletes it missed,
 * and the state `ulbridge status` reads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeUsrlocPacket, USRLOC_CAPABILITY } from '../../src/cluster/usrloc/index.js';
import { openDb } from '../../src/db/open.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { applyBatch } from '../../src/project/apply.js';
import type { BatchResult } from '../../src/project/batch.js';
import { unpackContactId } from '../../src/opensips/contactId.js';
import type { Target } from '../../src/project/target.js';
import { ClusterPush } from '../../src/push/clusterPush.js';
import { readPushState } from '../../src/push/pushState.js';
import { ScriptedPeer } from '../support/clusterPeer.js';
import { APPLY_NOW as NOW, logEvent as ev, logMessage as msg } from '../support/logEvents.js';
import { freePort } from '../support/net.js';
import { mariadb, postgres, type Dialect, type TestDb } from './project-apply-dialect.js';

const CLUSTER = 1;
const REG = 1;
const ME = 10;

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

for (const d of [postgres, mariadb] as Dialect[]) {
  describe(`cluster push from a ${d.name} target`, () => {
    let db: TestDb;
    let target: Target;
    let offset = 0;
    before(async () => {
      db = await d.open('cp', '4.0');
      target = db.target({ release: '4.0', push: true, useDomain: true });
      await db.ensureState(target);
    });
    after(async () => {
      await db.drop();
    });

    const apply = async (...events: Array<ReturnType<typeof ev>>): Promise<BatchResult> => {
      const r = await applyBatch(db.main.session(target), {
        topic: 'log',
        partition: 0,
        messages: events.map((e) => msg(offset++, e)),
        now: NOW,
      });
      return r;
    };

    /** The usrloc packets the registrar received, as "TYPE aor contactId-or-cseq". */
    const usrloc = (peer: ScriptedPeer): string[] =>
      peer.received
        .filter((r) => r.packet.kind === 'module' && r.packet.capability === USRLOC_CAPABILITY)
        .map((r) => {
          const { message, trailer } = decodeUsrlocPacket(r.bytes);
          assert.deepEqual(trailer, { clusterId: CLUSTER, sourceId: ME, destId: REG });
          switch (message.type) {
            case 'URECORD_INSERT': {
              const { record } = message;
              return `URECORD_INSERT ${record.aor} label ${record.label} next ${record.nextClabel} kv ${record.kvStore}`;
            }
            case 'UCONTACT_INSERT':
            case 'UCONTACT_UPDATE':
              return `${message.type} ${message.contact.aor} ${message.contact.contactId} cseq ${message.contact.cseq}`;
            case 'UCONTACT_DELETE':
              return `UCONTACT_DELETE ${message.delete.aor} ${message.delete.contact} cseq ${message.delete.cseq}`;
            default:
              return message.type;
          }
        });

    /** What ulbridge wrote to the registrar, in order: usrloc packet types and PINGs (barriers or its ping round). */
    const wire = (peer: ScriptedPeer): string[] =>
      peer.received.flatMap((r) => {
        const p = r.packet;
        if (p.kind === 'module' && p.capability === USRLOC_CAPABILITY) return [decodeUsrlocPacket(r.bytes).message.type];
        if (p.kind === 'internal' && p.message.type === 'PING') return ['PING'];
        return [];
      });

    test('a node gets the table when it comes up, then every committed change as its packets; after a restart, the deletes it missed and the table again', async () => {
      // Two rows before the node exists: it gets them as the replay.
      const early = await apply(ev('UPSERT', 1n, 10n, 'alice'), ev('UPSERT', 2n, 11n, 'bob'));
      const ids = new Map(early.changes.map((c) => [c.row.username, c.row.contactId]));
      const peerPort = await freePort();
      const myPort = await freePort();
      const metrics = new Metrics();
      const push = await ClusterPush.start({
        target,
        cluster: {
          clusterId: CLUSTER,
          nodeId: ME,
          listen: `bin:127.0.0.1:${myPort}`,
          opensips: '4.0',
          nodes: [{ nodeId: REG, url: `bin:127.0.0.1:${peerPort}` }],
          pingIntervalMs: 100,
          downAfterMs: 3000,
        },
        logger: silentLogger,
        metrics,
        stateIntervalMs: 100,
      });
      const startPeer = async (): Promise<ScriptedPeer> => {
        const p = await ScriptedPeer.start({
          clusterId: CLUSTER,
          nodeId: REG,
          port: peerPort,
          neighbours: [{ nodeId: ME, port: myPort }],
          capabilities: [USRLOC_CAPABILITY],
          pingIntervalMs: 100,
        });
        p.begin();
        return p;
      };
      let peer = await startPeer();
      const stateDb = await openDb(target.db);
      try {
        const a = ids.get('alice')!;
        const b = ids.get('bob')!;
        await until('the replay', () => usrloc(peer).length === 2);
        assert.deepEqual(usrloc(peer).sort(), [
          `UCONTACT_UPDATE alice@example.com ${a} cseq 1`,
          `UCONTACT_UPDATE bob@example.com ${b} cseq 1`,
        ]);
        await until('the replay recorded as done', async () => {
          const rows = await readPushState(stateDb, target.stateSchema);
          return rows?.[0]?.up === true && !rows[0].replaying;
        });

        // Live: a refresh, a delete and a new AOR, pushed after their commit.
        const live = await apply(ev('UPSERT', 1n, 12n, 'alice', 2), ev('DELETE', 2n, 13n, 'bob'), ev('UPSERT', 3n, 14n, 'carol'));
        push.push(live.changes, live.sourceTimesMs);
        const c = live.changes.find((x) => x.row.username === 'carol')!.row.contactId;
        const { rlabel, clabel } = unpackContactId(c);
        await until('the live packets', () => usrloc(peer).length === 6);
        // The delete first (read before the batch's writes), then the writes; a record packet right before its contact's.
        const got = usrloc(peer).slice(2);
        assert.equal(got[0], `UCONTACT_DELETE bob@example.com sip:bob@192.0.2.2:5060 cseq 1`);
        assert.deepEqual(got.slice(1).sort(), [
          `UCONTACT_INSERT carol@example.com ${c} cseq 1`,
          `UCONTACT_UPDATE alice@example.com ${a} cseq 2`,
          `URECORD_INSERT carol@example.com label ${rlabel} next ${clabel} kv {}`,
        ]);
        assert.equal(
          got.indexOf(`URECORD_INSERT carol@example.com label ${rlabel} next ${clabel} kv {}`) + 1,
          got.indexOf(`UCONTACT_INSERT carol@example.com ${c} cseq 1`),
        );
        // Pacing: a barrier between the delete and the writes after it (a registrar's workers may
        // reorder one connection's packets) ...
        const seq = wire(peer);
        const del = seq.lastIndexOf('UCONTACT_DELETE');
        const next = seq.findIndex((x, i) => i > del && x !== 'PING');
        assert.ok(
          seq.slice(del + 1, next).includes('PING'),
          `a PING between the delete and the next write: ${seq.slice(del, next + 1).join(' ')}`,
        );
        // ... and one at least every 100 packets.
        const many = await apply(...Array.from({ length: 150 }, (_, i) => ev('UPSERT', BigInt(100 + i), BigInt(20 + i), `bulk${i}`)));
        push.push(many.changes, many.sourceTimesMs);
        await until('the bulk packets', () => usrloc(peer).length === 6 + 300);
        const runs = wire(peer)
          .join(' ')
          .split('PING')
          .map((run) => run.trim().split(' ').filter(Boolean).length);
        assert.ok(Math.max(...runs) <= 100, `runs of packets between PINGs: ${runs.join(',')}`);
        await until('the latency observed', async () =>
          (await metrics.registry.getSingleMetricAsString('ulbridge_push_latency_seconds')).includes('_count{target="t",node="1"} 153'),
        );

        // A registrar that stays connected but stops confirming (no answer to a barrier within
        // downAfterMs) gets the table again once it answers.
        peer.answerPings = false;
        const quiet = await apply(ev('UPSERT', 1n, 40n, 'alice', 3));
        push.push(quiet.changes, quiet.sourceTimesMs);
        await until('the replay scheduled', async () => (await readPushState(stateDb, target.stateSchema))?.[0]?.replaying === true);
        const sent = usrloc(peer).length;
        peer.answerPings = true;
        await until('the table sent again', async () =>
          /ulbridge_push_replays_total\{target="t",node="1"\} 2/.test(
            await metrics.registry.getSingleMetricAsString('ulbridge_push_replays_total'),
          ),
        );
        assert.equal(usrloc(peer).filter((x, i) => i >= sent && x.startsWith('UCONTACT_UPDATE bulk')).length, 150);
        assert.ok(usrloc(peer).slice(sent).includes(`UCONTACT_UPDATE alice@example.com ${a} cseq 3`));

        // The registrar goes away; a delete and a new contact are committed meanwhile.
        await peer.stop();
        await until('the node down', async () => (await readPushState(stateDb, target.stateSchema))?.[0]?.up === false);
        const missed = await apply(ev('DELETE', 3n, 15n, 'carol'), ev('UPSERT', 4n, 16n, 'dave'));
        push.push(missed.changes, missed.sourceTimesMs);
        const dv = missed.changes.find((x) => x.row.username === 'dave')!.row.contactId;
        assert.match(await metrics.registry.getSingleMetricAsString('ulbridge_push_skipped_total'), /node="1"} 3/);

        // Back: the journal's deletes (bob, carol), then the table (alice, dave), nothing twice.
        peer = await startPeer();
        await until('the second replay', () => usrloc(peer).length === 4 + 150);
        const again = usrloc(peer);
        assert.deepEqual(again.slice(0, 2), [
          `UCONTACT_DELETE bob@example.com sip:bob@192.0.2.2:5060 cseq 1`,
          `UCONTACT_DELETE carol@example.com sip:carol@192.0.2.3:5060 cseq 1`,
        ]);
        assert.deepEqual(
          again
            .slice(2)
            .filter((x) => !x.includes('bulk'))
            .sort(),
          [`UCONTACT_UPDATE alice@example.com ${a} cseq 3`, `UCONTACT_UPDATE dave@example.com ${dv} cseq 1`],
        );
        assert.equal(again.filter((x) => x.startsWith('UCONTACT_UPDATE bulk')).length, 150);
        await until('up again, ups 2', async () => {
          const rows = await readPushState(stateDb, target.stateSchema);
          return rows?.[0]?.up === true && rows[0].ups === 2 && !rows[0].replaying;
        });
        assert.match(await metrics.registry.getSingleMetricAsString('ulbridge_push_replays_total'), /node="1"} 3/);
      } finally {
        await push.stop();
        await peer.stop();
        await stateDb.close();
      }
    });
  });
}
