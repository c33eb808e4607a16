/**
 * The scripted clusterer node (test/support/clusterPeer.ts) against another one, on loopback: they
 * ping and answer each other with packets the codec decodes, announce their capabilities, and a
 * captured usrloc packet replayed by one arrives at the other with its fields unchanged and the
 * trailer naming the replaying node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { decodeBinPacket } from '../../src/cluster/bin.js';
import { splitTrailer } from '../../src/cluster/clusterer.js';
import { decodeUsrlocPacket, USRLOC_CAPABILITY } from '../../src/cluster/usrloc/index.js';
import { ScriptedPeer } from '../support/clusterPeer.js';
import { freePort } from '../support/net.js';

const DIR = fileURLToPath(new URL('../fixtures/opensips-bin/3.6/', import.meta.url));

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

test('two scripted nodes ping, announce capabilities, and carry a replayed usrloc packet unchanged', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = await ScriptedPeer.start({
    clusterId: 1,
    nodeId: 1,
    port: pa,
    neighbours: [{ nodeId: 2, port: pb }],
    capabilities: [USRLOC_CAPABILITY],
    pingIntervalMs: 100,
  });
  const b = await ScriptedPeer.start({
    clusterId: 1,
    nodeId: 2,
    port: pb,
    neighbours: [{ nodeId: 1, port: pa }],
    capabilities: [USRLOC_CAPABILITY],
    pingIntervalMs: 100,
  });
  try {
    a.begin();
    b.begin();
    await until('pings and pongs both ways', () =>
      [a, b].every((p) =>
        ['PING', 'PONG', 'CAP_UPDATE'].every((t) => p.received.some((r) => r.packet.kind === 'internal' && r.packet.message.type === t)),
      ),
    );
    const cap = b.received.find((r) => r.packet.kind === 'internal' && r.packet.message.type === 'CAP_UPDATE');
    assert.ok(cap?.packet.kind === 'internal' && cap.packet.message.type === 'CAP_UPDATE');
    assert.deepEqual(cap.packet.message.nodes, [{ nodeId: 1, capabilities: [{ name: USRLOC_CAPABILITY, state: 1 }] }]);

    const file = readdirSync(DIR).find((f) => /-usrloc-UCONTACT_INSERT\.json$/.test(f));
    assert.ok(file, 'a captured UCONTACT_INSERT');
    const captured = Buffer.from((JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { hex: string }).hex, 'hex');
    const sent = a.replay(captured, 2);
    await until('the replayed packet', () => b.received.some((r) => r.packet.kind === 'module'));
    const got = b.received.find((r) => r.packet.kind === 'module');
    assert.ok(got);
    assert.equal(got.bytes.toString('hex'), sent.toString('hex'));
    const before = decodeUsrlocPacket(captured);
    const after = decodeUsrlocPacket(got.bytes);
    assert.deepEqual(after.message, before.message);
    assert.deepEqual(after.trailer, { clusterId: 1, sourceId: 1, destId: 2 });
    assert.deepEqual(splitTrailer(decodeBinPacket(got.bytes).body).payload, splitTrailer(decodeBinPacket(captured).body).payload);
    assert.equal(b.received.filter((r) => r.packet.kind === 'undecodable').length, 0);
  } finally {
    await a.stop();
    await b.stop();
  }
});
