/**
 * ulbridge's cluster node (src/cluster/node.ts) against the scripted clusterer node of
 * test/support/clusterPeer.ts on loopback: the handshake that makes a registrar "up", down on a
 * closed connection, on silence and on a full send buffer, packet order and bytes, and what it
 * ignores (foreign ids, undecodable packets, a byte stream that is not BIN).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeBinPacket } from '../../src/cluster/bin.js';
import { CL_INTERNAL_CAP, encodeExtra, encodeInternal, encodeModule } from '../../src/cluster/clusterer.js';
import { CLUSTER_CONFIG_INVALID, CLUSTER_LISTEN_FAILED } from '../../src/cluster/errors.js';
import { ClusterNode, type ClusterNodeOptions, type ModulePacketEvent, type NodeUpReason } from '../../src/cluster/node.js';
import { decodeUsrlocPacket, encodeUsrlocPacket, USRLOC_CAPABILITY, type UsrlocMessage } from '../../src/cluster/usrloc/index.js';
import { ScriptedPeer } from '../support/clusterPeer.js';
import { freePort } from '../support/net.js';

const CLUSTER = 1;
const ME = 10; // ulbridge
const REG = 1; // the scripted registrar

async function until(what: string, fn: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

type Ev = { ev: 'up'; nodeId: number; reason: NodeUpReason } | { ev: 'down'; nodeId: number; reason: string };

interface Rig {
  node: ClusterNode;
  peer: ScriptedPeer;
  peerPort: number;
  events: Ev[];
  modules: ModulePacketEvent[];
  logs: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>;
  startPeer(): Promise<ScriptedPeer>;
  close(): Promise<void>;
}

async function rig(nodeOpts: Partial<ClusterNodeOptions> = {}, o: { begin?: boolean } = {}): Promise<Rig> {
  const peerPort = await freePort();
  const logs: Rig['logs'] = [];
  const node = await ClusterNode.start({
    clusterId: CLUSTER,
    nodeId: ME,
    listen: { host: '127.0.0.1', port: 0 },
    nodes: [{ nodeId: REG, host: '127.0.0.1', port: peerPort }],
    capabilities: [USRLOC_CAPABILITY],
    pingIntervalMs: 50,
    downAfterMs: 5000,
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    ...nodeOpts,
  });
  const events: Ev[] = [];
  const modules: ModulePacketEvent[] = [];
  node.onNodeUp((nodeId, reason) => events.push({ ev: 'up', nodeId, reason }));
  node.onNodeDown((nodeId, reason) => events.push({ ev: 'down', nodeId, reason }));
  node.onModulePacket((p) => modules.push(p));
  const startPeer = (): Promise<ScriptedPeer> =>
    ScriptedPeer.start({
      clusterId: CLUSTER,
      nodeId: REG,
      port: peerPort,
      neighbours: [{ nodeId: ME, port: node.port }],
      capabilities: [USRLOC_CAPABILITY],
      pingIntervalMs: 50,
    });
  const r: Rig = {
    node,
    peer: await startPeer(),
    peerPort,
    events,
    modules,
    logs,
    startPeer,
    async close() {
      await node.stop();
      await r.peer.stop();
    },
  };
  if (o.begin !== false) r.peer.begin();
  return r;
}

async function upRig(nodeOpts: Partial<ClusterNodeOptions> = {}): Promise<Rig> {
  const r = await rig(nodeOpts);
  await until('the node up', () => r.events.length === 1);
  assert.deepEqual(r.events, [{ ev: 'up', nodeId: REG, reason: 'up' }]);
  return r;
}

function usrlocPacket(i: number, attrLen = 0): Buffer {
  const aor = `user${i}${'x'.repeat(i % 17)}`;
  const message: UsrlocMessage =
    i % 2 === 0
      ? { type: 'URECORD_INSERT', record: { domain: 'location', aor, label: i, nextClabel: i + 1, kvStore: '{}' } }
      : {
          type: 'UCONTACT_INSERT',
          contact: {
            domain: 'location',
            aor,
            contact: `sip:${aor}@192.0.2.${i % 250}:5060`,
            contactId: 1000000n + BigInt(i),
            callid: `call-${i}`,
            userAgent: 'ua',
            path: '',
            attr: 'a'.repeat(attrLen),
            received: '',
            instance: '',
            expires: 2000000000n,
            q: -1,
            socket: '',
            cseq: i,
            flags: 0,
            cflags: '',
            methods: 0xffffffff,
            lastModified: 1700000000n,
            kvStore: '',
            match: { mode: -1 },
          },
        };
  return encodeUsrlocPacket({ version: 5, message, trailer: { clusterId: CLUSTER, sourceId: ME, destId: REG } });
}

const modulesAt = (p: ScriptedPeer): Buffer[] => p.received.filter((r) => r.packet.kind === 'module').map((r) => r.bytes);

test('a node is up only after its PONG, its PING and a CAP_UPDATE after ours; onNodeUp fires once', async () => {
  const r = await rig({}, { begin: false });
  try {
    r.peer.answerCapUpdates = false;
    // PONGs come back (our CAP_UPDATE is sent only after the first PONG), no PING, no CAP_UPDATE reply
    await until('our CAP_UPDATE asking for a reply', () =>
      r.peer
        .internal('CAP_UPDATE')
        .some((x) => x.packet.kind === 'internal' && x.packet.message.type === 'CAP_UPDATE' && x.packet.message.requireReply === 1),
    );
    await until('three more pings', () => r.peer.internal('PING').length >= 3);
    assert.equal(r.node.isUp(REG), false);
    assert.equal(r.node.send(REG, usrlocPacket(0)), false, 'send() to a node that is not up');

    // the CAP_UPDATE reply comes (the node asks again every ping round while not up); still no PING from the registrar
    r.peer.answerCapUpdates = true;
    await until('the registrar capabilities recorded', () => r.node.status()[0]!.capabilities[USRLOC_CAPABILITY] === 1);
    assert.equal(r.node.isUp(REG), false, 'not up without a PING from the registrar');
    assert.deepEqual(r.events, []);

    r.peer.begin(); // pings, and a CAP_UPDATE asking for a reply
    await until('up', () => r.events.length === 1);
    assert.deepEqual(r.events, [{ ev: 'up', nodeId: REG, reason: 'up' }]);
    assert.equal(r.node.isUp(REG), true);
    await until('our CAP_UPDATE answering the registrar (requireReply 0)', () =>
      r.peer
        .internal('CAP_UPDATE')
        .some((x) => x.packet.kind === 'internal' && x.packet.message.type === 'CAP_UPDATE' && x.packet.message.requireReply === 0),
    );
    const cap = r.peer.internal('CAP_UPDATE')[0]!.packet;
    assert.ok(cap.kind === 'internal' && cap.message.type === 'CAP_UPDATE');
    assert.deepEqual(cap.message.nodes, [{ nodeId: ME, capabilities: [{ name: USRLOC_CAPABILITY, state: 1 }] }]);
    assert.deepEqual(cap.message.path, [ME]);
    assert.equal(cap.clusterId, CLUSTER);

    const pings = r.peer.internal('PING').length;
    await until('ten more ping rounds', () => r.peer.internal('PING').length >= pings + 10);
    assert.deepEqual(r.events, [{ ev: 'up', nodeId: REG, reason: 'up' }], 'onNodeUp once per up transition');
    const st = r.node.status();
    assert.equal(st.length, 1);
    assert.equal(st[0]!.nodeId, REG);
    assert.equal(st[0]!.url, `bin:127.0.0.1:${r.peerPort}`);
    assert.equal(st[0]!.up, true);
    assert.equal(st[0]!.ups, 1);
    assert.equal(st[0]!.downs, 0);
    assert.ok(st[0]!.lastHeardAt !== null);
    assert.equal(st[0]!.linkUpAtNode, true, 'the scripted registrar asked for our capabilities');
    assert.equal(modulesAt(r.peer).length, 0, 'the packet refused before up was never sent');
  } finally {
    await r.close();
  }
});

test('a registrar whose connection closes is down at once; restarted on the same port it is up again', async () => {
  const r = await upRig();
  try {
    await r.peer.stop();
    await until('down', () => r.events.length === 2);
    assert.equal(r.events[1]!.ev, 'down');
    assert.match(r.events[1]!.reason, /connection to bin:127\.0\.0\.1:\d+ closed/);
    assert.equal(r.node.isUp(REG), false);
    assert.equal(r.node.send(REG, usrlocPacket(1)), false);

    r.peer = await r.startPeer();
    r.peer.begin();
    await until('up again', () => r.events.length === 3);
    assert.deepEqual(r.events[2], { ev: 'up', nodeId: REG, reason: 'up' });
    const st = r.node.status()[0]!;
    assert.equal(st.ups, 2);
    assert.equal(st.downs, 1);
    assert.match(st.lastDownReason ?? '', /closed/);

    // a packet sent right after the second up reaches the new registrar
    const pkt = usrlocPacket(3);
    assert.equal(r.node.send(REG, pkt), true);
    await until('the packet', () => modulesAt(r.peer).length === 1);
    assert.deepEqual(modulesAt(r.peer), [pkt]);
  } finally {
    await r.close();
  }
});

test('a registrar that goes silent is down after downAfterMs, and up again when it talks', async () => {
  const r = await upRig({ downAfterMs: 1500 });
  try {
    r.peer.mute = true;
    await until('down', () => r.events.length === 2);
    assert.equal(r.events[1]!.ev, 'down');
    assert.match(r.events[1]!.reason, /^nothing heard for \d+ ms \(down after 1500 ms\)$/);
    assert.equal(r.node.send(REG, usrlocPacket(0)), false);
    r.peer.mute = false;
    await until('up again', () => r.events.length === 3);
    assert.deepEqual(r.events[2], { ev: 'up', nodeId: REG, reason: 'up' });
    assert.equal(r.node.status()[0]!.ups, 2);
  } finally {
    await r.close();
  }
});

test('a blocked event loop does not turn a talking registrar down (packets that arrived meanwhile are read first)', async () => {
  const r = await upRig({ downAfterMs: 600 });
  try {
    r.peer.mute = true;
    // in the node's receive buffer before the loop blocks
    r.peer.sendTo(ME, encodeInternal({ clusterId: CLUSTER, sourceId: REG, message: { type: 'PING', requestNodeList: 0 } }));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // blocks this whole process for 1.5 s
    r.peer.mute = false;
    const pings = r.peer.internal('PING').length;
    await until('three ping rounds after the block', () => r.peer.internal('PING').length >= pings + 3);
    assert.deepEqual(r.events, [{ ev: 'up', nodeId: REG, reason: 'up' }]);
    assert.equal(r.node.isUp(REG), true);
  } finally {
    await r.close();
  }
});

test('packets reach the registrar in call order, byte for byte; drain() resolves once they are flushed', async () => {
  const r = await upRig();
  try {
    const sent: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const pkt = usrlocPacket(i, i % 50 === 1 ? 30000 : i % 7);
      assert.equal(r.node.send(REG, pkt), true);
      sent.push(pkt);
    }
    await r.node.drain(REG);
    assert.equal(r.node.status()[0]!.buffered, 0);
    assert.equal(await r.node.barrier(REG), true);
    assert.equal(modulesAt(r.peer).length, sent.length, 'the registrar answered the barrier PING after reading every packet before it');
    const got = modulesAt(r.peer);
    assert.equal(got.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.ok(got[i]!.equals(sent[i]!), `packet ${i} arrives unchanged and in order`);
    for (const [i, b] of got.entries()) {
      assert.deepEqual(decodeUsrlocPacket(b), decodeUsrlocPacket(sent[i]!));
      assert.deepEqual(decodeUsrlocPacket(b).trailer, { clusterId: CLUSTER, sourceId: ME, destId: REG });
    }
    assert.equal(
      r.peer.received.filter((x) => x.packet.kind === 'undecodable').length,
      0,
      'everything the node wrote decodes (pings, capability updates, module packets)',
    );
    await r.node.drain(REG); // nothing pending: resolves at once
  } finally {
    await r.close();
  }
});

test('module packets from the registrar are reported; foreign cluster / node ids and packets for other nodes are ignored', async () => {
  const r = await upRig();
  try {
    const mod = (clusterId: number, sourceId: number, destId: number, aor: string): Buffer =>
      encodeUsrlocPacket({
        version: 5,
        message: { type: 'URECORD_DELETE', domain: 'location', aor },
        trailer: { clusterId, sourceId, destId },
      });
    const foreignPing = encodeInternal({ clusterId: 99, sourceId: REG, message: { type: 'PING', requestNodeList: 0 } });
    const unknownNodePing = encodeInternal({ clusterId: CLUSTER, sourceId: 7, message: { type: 'PING', requestNodeList: 0 } });
    r.peer.sendTo(ME, foreignPing);
    r.peer.sendTo(ME, foreignPing);
    r.peer.sendTo(ME, mod(99, REG, ME, 'foreign-cluster'));
    r.peer.sendTo(ME, unknownNodePing);
    r.peer.sendTo(ME, mod(CLUSTER, REG, 2, 'for-node-2'));
    const mine = mod(CLUSTER, REG, ME, 'alice');
    r.peer.sendTo(ME, mine);
    await until('the module packet', () => r.modules.length === 1);
    assert.deepEqual(r.modules, [{ capability: USRLOC_CAPABILITY, version: 5, type: 2, sourceId: REG, bytes: mine }]);
    const st = r.node.stats();
    assert.equal(st.foreign, 4);
    assert.equal(st.notForUs, 1);
    assert.equal(st.modulePackets, 1);
    assert.equal(st.undecodable, 0);
    const once = r.logs.filter((l) => l.msg.includes('not configured'));
    assert.deepEqual(
      once.map((l) => [l.fields?.clusterId, l.fields?.sourceId]),
      [
        [99, REG],
        [CLUSTER, 7],
      ],
      'logged once per foreign id',
    );
    assert.equal(r.node.isUp(REG), true);
  } finally {
    await r.close();
  }
});

test('undecodable packets and a connection that carries no BIN packets do not stop the node', async () => {
  const r = await upRig();
  try {
    const truncated = encodeBinPacket({ version: 1, capability: CL_INTERNAL_CAP, type: 0, body: Buffer.from([1, 0, 0, 0]) });
    const badVersion = encodeBinPacket({ version: 7, capability: CL_INTERNAL_CAP, type: 0, body: Buffer.alloc(12) });
    const noTrailer = encodeBinPacket({ version: 5, capability: USRLOC_CAPABILITY, type: 1, body: Buffer.alloc(3) });
    r.peer.sendTo(ME, truncated);
    r.peer.sendTo(ME, badVersion);
    r.peer.sendTo(ME, noTrailer);
    const marker = encodeModule({
      version: 5,
      capability: USRLOC_CAPABILITY,
      type: 2,
      payload: Buffer.from([0, 0, 0, 0]),
      trailer: { clusterId: CLUSTER, sourceId: REG, destId: ME },
    });
    r.peer.sendTo(ME, marker);
    await until('the module packet after them', () => r.modules.length === 1);
    assert.ok(r.modules[0]!.bytes.equals(marker), 'a module packet is reported without decoding its fields');
    assert.equal(r.node.stats().undecodable, 3);

    const raw = createConnection({ host: '127.0.0.1', port: r.node.port });
    raw.on('error', () => undefined);
    let closed = false;
    raw.on('close', () => (closed = true));
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the node closes the non-BIN connection', () => closed);
    assert.equal(r.node.stats().brokenStreams, 1);

    assert.equal(r.node.isUp(REG), true);
    const pkt = usrlocPacket(5);
    assert.equal(r.node.send(REG, pkt), true);
    await until('a packet after all that', () => modulesAt(r.peer).length === 1);
    assert.deepEqual(r.events, [{ ev: 'up', nodeId: REG, reason: 'up' }]);
  } finally {
    await r.close();
  }
});

test('a SYNC_REQ is answered with an empty sync (SYNC_END, 0 chunks) and reported as onNodeUp(sync-request)', async () => {
  const r = await upRig();
  try {
    const req = (capability: string): Buffer =>
      encodeExtra({ message: { type: 'SYNC_REQ', capability }, trailer: { clusterId: CLUSTER, sourceId: REG, destId: ME } });
    r.peer.sendTo(ME, req('dialog-dlg-repl'));
    r.peer.sendTo(ME, req(USRLOC_CAPABILITY));
    await until('SYNC_END', () => r.peer.received.some((x) => x.packet.kind === 'extra'));
    await until('the sync-request callback', () => r.events.length === 2);
    const extra = r.peer.received.filter((x) => x.packet.kind === 'extra').map((x) => x.packet);
    assert.deepEqual(extra, [
      {
        kind: 'extra',
        message: { type: 'SYNC_END', capability: USRLOC_CAPABILITY, chunkCount: 0 },
        trailer: { clusterId: CLUSTER, sourceId: ME, destId: REG },
      },
    ]);
    assert.deepEqual(r.events, [
      { ev: 'up', nodeId: REG, reason: 'up' },
      { ev: 'up', nodeId: REG, reason: 'sync-request' },
    ]);
    assert.equal(r.node.stats().syncRequests, 2);
    assert.equal(r.node.status()[0]!.ups, 1, 'a sync request is not an up transition');
  } finally {
    await r.close();
  }
});

test('a registrar that stops reading is marked down once its unsent bytes pass maxBufferedBytes', async () => {
  const limit = 1024 * 1024;
  const r = await upRig({ maxBufferedBytes: limit });
  try {
    r.peer.pauseReading();
    const big = usrlocPacket(1, 60000);
    let accepted = 0;
    while (r.node.send(REG, big)) {
      accepted++;
      assert.ok(accepted < 5000, 'the limit stops the sender');
    }
    assert.ok(accepted * big.length > limit, 'the kernel buffers took some, then the socket buffer filled up to the limit');
    assert.equal(r.node.isUp(REG), false);
    assert.equal(r.events.length, 2);
    assert.equal(r.events[1]!.ev, 'down');
    assert.match(r.events[1]!.reason, /^\d+ bytes wait unsent on the connection \(limit 1048576\): the node does not read fast enough$/);
    assert.equal(r.node.status()[0]!.buffered, 0, 'the connection was dropped with what it held');
    assert.equal(r.node.send(REG, big), false);
    await r.node.drain(REG);
  } finally {
    await r.close();
  }
});

test('barrier() fails when the registrar does not answer PINGs in time (and works again once it does), and at once for a node that is down', async () => {
  const r = await upRig();
  try {
    r.peer.answerPings = false;
    // Several ping rounds go unanswered too: they must not keep later barriers short of their count.
    await sleep(400);
    assert.equal(await r.node.barrier(REG, 300), false);
    r.peer.answerPings = true;
    assert.equal(await r.node.barrier(REG), true);
    await r.peer.stop();
    await until('down', () => r.events.length === 2);
    assert.equal(await r.node.barrier(REG), false);
    assert.equal(await r.node.barrier(99), false, 'an unknown node');
  } finally {
    await r.close();
  }
});

test('coded errors: a listen port in use (CLUSTER_LISTEN_FAILED), contradictory settings (CLUSTER_CONFIG_INVALID)', async () => {
  const busy = createServer();
  await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()));
  const port = (busy.address() as { port: number }).port;
  const base: ClusterNodeOptions = {
    clusterId: 1,
    nodeId: ME,
    listen: { host: '127.0.0.1', port },
    nodes: [{ nodeId: REG, host: '127.0.0.1', port: 1 }],
    capabilities: [USRLOC_CAPABILITY],
  };
  try {
    await assert.rejects(ClusterNode.start(base), (e: any) => {
      assert.equal(e.code, CLUSTER_LISTEN_FAILED);
      assert.match(
        e.message,
        new RegExp(`^cannot listen on the cluster bin socket 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*another process`),
      );
      return true;
    });
  } finally {
    await new Promise<void>((res) => busy.close(() => res()));
  }
  for (const [o, re] of [
    [{ nodes: [{ nodeId: ME, host: '127.0.0.1', port: 5555 }] }, /is ulbridge's own node id/],
    [
      {
        nodes: [
          { nodeId: 2, host: 'a', port: 5555 },
          { nodeId: 2, host: 'b', port: 5555 },
        ],
      },
      /listed twice/,
    ],
    [{ nodes: [] }, /no registrar nodes/],
    [{ nodeId: 0 }, /node id must be an integer/],
    [{ pingIntervalMs: 0 }, /pingIntervalMs must be a positive number/],
  ] as Array<[Partial<ClusterNodeOptions>, RegExp]>) {
    await assert.rejects(ClusterNode.start({ ...base, listen: { host: '127.0.0.1', port: 0 }, ...o }), (e: any) => {
      assert.equal(e.code, CLUSTER_CONFIG_INVALID);
      assert.match(e.message, re);
      return true;
    });
  }
});
