/**
 * Opt-in check of ulbridge's cluster node (src/cluster/node.ts) against a real OpenSIPS caching
 * registrar (full-sharing, load-from-sql, write-through, skip_replicated_db_ops 1, PostgreSQL)
 * whose only neighbour is the ClusterNode:
 *
 *   npx tsx test/support/nodeCheck.ts --home /opt/opensips/3.6
 *
 * 1. registrar started -> onNodeUp; right inside the callback one URECORD_INSERT + UCONTACT_INSERT
 *    (alice) are sent; MI ul_dump must show the contact with its id; a REGISTER on the registrar
 *    (dave) must reach ulbridge as the registrar's own replication (onModulePacket);
 * 2. the registrar's process group is killed (-9) -> onNodeDown; restarted -> onNodeUp; a packet
 *    (bob) sent inside that callback must show in ul_dump;
 * 3. MI ul_cluster_sync on the registrar: it asks ulbridge (its only Ok node) for a sync; ulbridge
 *    answers SYNC_END with 0 chunks; the registrar's capability must be Ok again and ulbridge must
 *    report onNodeUp(sync-request);
 * 4. ulbridge restarted (new ClusterNode on the same port) while the registrar runs -> onNodeUp
 *    and a packet (carol) accepted;
 * 5. a node that counts CAP_UPDATE seq_no from 1 (the scripted peer) in ulbridge's place: does
 *    the registrar still answer its CAP_UPDATE? (why node.ts numbers them by Unix seconds)
 *
 * With --bulk N, after step 4: N records with one contact each, drain() and barrier() every 500
 * records (--window N; --pace drain: drain() only), and how long until the registrar holds them all.
 *
 * Prints timings and the MI snapshots as JSON on stdout; the registrar's log errors too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterNode, type NodeUpReason } from '../../src/cluster/node.js';
import {
  decodeUsrlocPacket,
  encodeUsrlocPacket,
  USRLOC_CAPABILITY,
  usrlocVersionForRelease,
  type UsrlocMessage,
} from '../../src/cluster/usrloc/index.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { aorHash } from '../../src/opensips/coreHash.js';
import { ScriptedPeer } from './clusterPeer.js';
import { freePort } from './net.js';
import { SipClient } from './sipClient.js';
import {
  cliArg as arg,
  newNode,
  mi,
  modulesDir,
  nodeCfg,
  startPrivatePostgres,
  waitFor,
  type Node,
  type PrivatePostgres,
} from './opensipsNode.js';

const HOME = arg('home');
const BULK = Number(arg('bulk', '0'));
/** --pace drain: drain() every 500 records; barrier (default): drain() and barrier(). */
const PACE = arg('pace', 'barrier');
/** --window N: records between two drain() / barrier() calls (default 500). */
const WINDOW = Number(arg('window', '500'));
/** --dispatch-jobs 0|1: the registrar's clusterer dispatch_jobs (default: not set, i.e. 1). */
const DISPATCH_JOBS = process.argv.includes('--dispatch-jobs') ? Number(arg('dispatch-jobs')) : undefined;
const ME = 10;
const REG = 1;
const say = (s: string): void => void process.stderr.write(`node-check: ${s}\n`);

let proc: ChildProcess | undefined;
let pgRef: PrivatePostgres | undefined;
let logPath: string | undefined;
const logChunks: Buffer[] = [];

/** Started in its own process group, so kill -9 takes the whole registrar (attendant and workers) down. */
function startRegistrar(node: Node): void {
  const p = spawn(join(HOME, 'sbin/opensips'), ['-F', '-f', node.cfg], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  p.stdout.on('data', (b: Buffer) => logChunks.push(b));
  p.stderr.on('data', (b: Buffer) => logChunks.push(b));
  logPath = node.log;
  const flush = setInterval(() => writeFileSync(node.log, Buffer.concat(logChunks)), 1000);
  p.on('exit', () => clearInterval(flush));
  proc = p;
}

function killRegistrar(): void {
  if (proc?.pid) process.kill(-proc.pid, 'SIGKILL');
}

/** The id ulbridge sends for aor's contact (label rlabel, clabel): the registrar must keep it. */
function contactId(aor: string, label: number, clabel: number): bigint {
  return packContactId({ aorhash: aorHash(Buffer.from(aor)), rlabel: label, clabel });
}

function contactMsg(aor: string, label: number, clabel: number, now: bigint): UsrlocMessage[] {
  return [
    // next_clabel not above the contact's label, or the receiver gives the contact its own next label (§4)
    { type: 'URECORD_INSERT', record: { domain: 'location', aor, label, nextClabel: clabel, kvStore: '{}' } },
    {
      type: 'UCONTACT_INSERT',
      contact: {
        domain: 'location',
        aor,
        contact: `sip:${aor}@192.0.2.10:5062`,
        contactId: contactId(aor, label, clabel),
        callid: `call-${aor}`,
        userAgent: 'node-check',
        path: '',
        attr: '',
        received: '',
        instance: '',
        expires: now + 3600n,
        q: -1,
        socket: '',
        cseq: 1,
        flags: 0,
        cflags: '',
        methods: 0xffffffff,
        lastModified: now,
        kvStore: '',
        match: { mode: -1 },
      },
    },
  ];
}

async function main(): Promise<void> {
  const release = /opensips (\d+\.\d+\.\d+)/.exec(
    await new Promise<string>((resolve) => {
      const v = spawn(join(HOME, 'sbin/opensips'), ['-V']);
      let out = '';
      v.stdout.on('data', (b: Buffer) => (out += b.toString()));
      v.on('close', () => resolve(out));
    }),
  )?.[1];
  if (!release) throw new Error(`cannot tell the release of ${HOME}/sbin/opensips`);
  const version = usrlocVersionForRelease(release);
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-node-check-'));
  chmodSync(dir, 0o777);
  const pg = await startPrivatePostgres(dir);
  pgRef = pg;
  pg.createOpensipsDb('node1', HOME);
  const ulbridgePort = await freePort();
  const n1: Node = await newNode(dir, REG);
  writeFileSync(
    n1.cfg,
    nodeCfg({
      dir,
      node: n1,
      mods: modulesDir(HOME),
      db: pg.url('node1'),
      persistency: 'load-from-sql',
      extra: [
        'modparam("usrloc", "skip_replicated_db_ops", 1)',
        ...(DISPATCH_JOBS === undefined ? [] : [`modparam("clusterer", "dispatch_jobs", ${DISPATCH_JOBS})`]),
      ],
      neighbours: [{ id: ME, port: ulbridgePort }],
    }),
  );

  const t0 = Date.now();
  const ms = (): number => Date.now() - t0;
  const events: Array<{ at: number; ev: string; nodeId: number; reason: string }> = [];
  const sent: Array<{ at: number; aor: string }> = [];
  let pending: string | undefined; // the aor to send at the next onNodeUp
  const modulePackets: Array<Record<string, unknown>> = [];

  const startNode = async (): Promise<ClusterNode> => {
    const node = await ClusterNode.start({
      clusterId: 1,
      nodeId: ME,
      listen: { host: '127.0.0.1', port: ulbridgePort },
      nodes: [{ nodeId: REG, host: '127.0.0.1', port: n1.binPort }],
      capabilities: [USRLOC_CAPABILITY],
      log: (level, msg, fields) => say(`[${ms()} ms] ${level} ${msg} ${fields ? JSON.stringify(fields) : ''}`),
    });
    node.onNodeUp((nodeId: number, reason: NodeUpReason) => {
      events.push({ at: ms(), ev: 'up', nodeId, reason });
      if (pending && reason === 'up') {
        const now = BigInt(Math.floor(Date.now() / 1000));
        const label = 100 + sent.length;
        for (const m of contactMsg(pending, label, 7, now)) {
          const ok = node.send(
            nodeId,
            encodeUsrlocPacket({ version, message: m, trailer: { clusterId: 1, sourceId: ME, destId: nodeId } }),
          );
          if (!ok) say(`send of ${pending} refused right after onNodeUp`);
        }
        sent.push({ at: ms(), aor: pending });
        pending = undefined;
      }
    });
    node.onNodeDown((nodeId, reason) => events.push({ at: ms(), ev: 'down', nodeId, reason }));
    // when the registrar signals that its own link to ulbridge is up (status().linkUpAtNode)
    let linkUp = false;
    const watch = setInterval(() => {
      const now = node.status()[0]?.linkUpAtNode ?? false;
      if (now !== linkUp) events.push({ at: ms(), ev: 'linkUpAtNode', nodeId: REG, reason: String(now) });
      linkUp = now;
    }, 20);
    const stop = node.stop.bind(node);
    node.stop = async (): Promise<void> => {
      clearInterval(watch);
      await stop();
    };
    node.onModulePacket((p) => {
      let decoded: string;
      try {
        const d = decodeUsrlocPacket(p.bytes);
        decoded = `${d.message.type} ${'record' in d.message ? d.message.record.aor : 'contact' in d.message ? d.message.contact.aor : ''}`;
      } catch (e) {
        decoded = `undecodable: ${(e as Error).message}`;
      }
      modulePackets.push({ at: ms(), sourceId: p.sourceId, capability: p.capability, version: p.version, type: p.type, decoded });
    });
    return node;
  };

  const ulDump = async (): Promise<string> => JSON.stringify(await mi(n1, dir, 'ul_dump'));
  const hasAor = async (aor: string): Promise<boolean> => (await ulDump()).includes(`"${aor}`);
  /** The ContactID ul_dump shows for aor's contact, and whether it is the one ulbridge sent. */
  const idOf = async (aor: string): Promise<{ sent: string; inMemory: string | undefined; same: boolean }> => {
    const i = sent.findIndex((x) => x.aor === aor);
    const want = contactId(aor, 100 + i, 7).toString();
    const dump = (await mi(n1, dir, 'ul_dump')) as {
      result?: { Domains?: Array<{ AORs?: Array<{ AOR: string; Contacts?: Array<{ ContactID: string }> }> }> };
    };
    const got = dump.result?.Domains?.flatMap((d) => d.AORs ?? []).find((a) => a.AOR === aor)?.Contacts?.[0]?.ContactID;
    return { sent: want, inMemory: got, same: want === got };
  };

  const report: Record<string, unknown> = { opensipsHome: HOME, release, usrlocVersion: version, dispatchJobs: DISPATCH_JOBS ?? 'default' };

  let node = await startNode();
  // 1. first start
  pending = 'alice';
  const start1 = ms();
  startRegistrar(n1);
  await waitFor('onNodeUp after the registrar started', 30000, () => events.some((e) => e.ev === 'up'));
  const up1 = events.find((e) => e.ev === 'up')!.at;
  await waitFor('alice in ul_dump', 10000, () => hasAor('alice'));
  const seen1 = ms();
  report.firstStart = {
    registrarStartedAt: start1,
    onNodeUpAt: up1,
    startToUpMs: up1 - start1,
    aliceSentAt: sent[0]!.at,
    aliceInUlDumpBy: seen1,
    aliceContactId: await idOf('alice'),
    clusterer_list: await mi(n1, dir, 'clusterer_list'),
    clusterer_list_cap: await mi(n1, dir, 'clusterer_list_cap'),
    ul_dump: JSON.parse(await ulDump()) as unknown,
  };

  // 1b. a REGISTER on the registrar: its own replication reaches ulbridge (onModulePacket)
  const sip = await SipClient.open({ port: n1.sipPort });
  const reg = await sip.register({ user: 'dave', domain: 'example.com', expires: 600, callId: 'dave-1', cseq: 1 });
  await waitFor('the registrar replication of dave', 5000, () => modulePackets.length >= 2);
  await sip.close();
  report.registrarReplication = { sipStatus: reg.status, modulePackets: [...modulePackets] };

  // 2. kill -9 and restart
  await sleep(1500);
  pending = 'bob';
  const kill = ms();
  killRegistrar();
  await waitFor('onNodeDown after kill -9', 10000, () => events.some((e) => e.ev === 'down'));
  const down = events.find((e) => e.ev === 'down')!;
  await sleep(500);
  const start2 = ms();
  startRegistrar(n1);
  await waitFor('the second onNodeUp', 30000, () => events.filter((e) => e.ev === 'up').length === 2);
  const up2 = events.filter((e) => e.ev === 'up')[1]!.at;
  await waitFor('bob in ul_dump', 10000, () => hasAor('bob'));
  report.killAndRestart = {
    killedAt: kill,
    onNodeDownAt: down.at,
    killToDownMs: down.at - kill,
    downReason: down.reason,
    restartedAt: start2,
    onNodeUpAt: up2,
    restartToUpMs: up2 - start2,
    bobInUlDumpBy: ms(),
    bobContactId: await idOf('bob'),
    aliceAfterRestart: await hasAor('alice'), // not in the table (skip_replicated_db_ops): gone unless replayed
    ul_dump: JSON.parse(await ulDump()) as unknown,
  };

  // 3. ul_cluster_sync: the registrar asks ulbridge for a sync (once it lists ulbridge Up, capability Ok)
  const registrarSeesUp = async (): Promise<boolean> => {
    const l = JSON.stringify(await mi(n1, dir, 'clusterer_list'));
    return l.includes('"link_state":"Up"');
  };
  const seesUp: Array<[number, boolean]> = [];
  await waitFor('the registrar to list node 10 Up', 20000, async () => {
    const up = await registrarSeesUp();
    if (seesUp.at(-1)?.[1] !== up) seesUp.push([ms(), up]);
    return up;
  }).catch((e: unknown) => {
    say(`registrar view of node 10 (ms, Up): ${JSON.stringify(seesUp)}`);
    throw e;
  });
  (report.killAndRestart as Record<string, unknown>).registrarListsUpAt = seesUp;
  await sleep(500);
  const syncAt = ms();
  const syncReply = await mi(n1, dir, 'ul_cluster_sync');
  await waitFor('onNodeUp(sync-request)', 10000, () => events.some((e) => e.reason === 'sync-request'));
  await sleep(1000);
  report.syncRequest = {
    miReply: syncReply,
    requestedAt: syncAt,
    callbackAt: events.find((e) => e.reason === 'sync-request')!.at,
    stats: node.stats(),
    clusterer_list_cap: await mi(n1, dir, 'clusterer_list_cap'),
    bobStillThere: await hasAor('bob'),
  };

  // 4. ulbridge restarted while the registrar runs
  await node.stop();
  const nodeStop = ms();
  await sleep(2000);
  pending = 'carol';
  const nUps = events.filter((e) => e.ev === 'up').length;
  node = await startNode();
  const nodeStart = ms();
  await waitFor('onNodeUp after the ulbridge restart', 30000, () => events.filter((e) => e.ev === 'up').length > nUps);
  await waitFor('carol in ul_dump', 10000, () => hasAor('carol'));
  report.ulbridgeRestart = {
    stoppedAt: nodeStop,
    startedAt: nodeStart,
    onNodeUpAt: events.filter((e) => e.ev === 'up')[nUps]!.at,
    carolInUlDumpBy: ms(),
    carolContactId: await idOf('carol'),
    clusterer_list: await mi(n1, dir, 'clusterer_list'),
  };

  // 4b. --bulk N: N records with one contact each, drain() every 1000 packets; how long until the
  // registrar holds them all (MI get_statistics location-contacts)
  if (BULK > 0) {
    const contacts = async (): Promise<number> => {
      const r = JSON.stringify(await mi(n1, dir, 'get_statistics', { statistics: ['usrloc:'] }));
      const n = /location-contacts"\s*:\s*(\d+)/.exec(r)?.[1];
      if (n === undefined) say(`get_statistics answered ${r}`);
      return Number(n ?? -1);
    };
    const before = await contacts();
    const now = BigInt(Math.floor(Date.now() / 1000));
    const b0 = ms();
    let bytes = 0;
    let drains = 0;
    let barrierFailures = 0;
    for (let i = 0; i < BULK; i++) {
      for (const m of contactMsg(`bulk${i}`, 1000 + i, 3, now)) {
        const pkt = encodeUsrlocPacket({ version, message: m, trailer: { clusterId: 1, sourceId: ME, destId: REG } });
        if (!node.send(REG, pkt)) throw new Error(`bulk: send ${i} refused`);
        bytes += pkt.length;
      }
      if (i % WINDOW === WINDOW - 1) {
        await node.drain(REG);
        drains++;
        if (PACE === 'barrier' && !(await node.barrier(REG, 30000))) barrierFailures++;
      }
    }
    await node.drain(REG);
    const flushed = ms();
    const progress: Array<[number, number]> = [];
    await waitFor('all bulk contacts in memory', 120000, async () => {
      const n = await contacts();
      if (progress.at(-1)?.[1] !== n) progress.push([ms() - b0, n]);
      return n >= before + BULK;
    }).catch((e: unknown) => {
      say(`bulk progress (ms since start, contacts): ${JSON.stringify(progress)}`);
      throw e;
    });
    const allInMemoryMs = ms() - b0;
    // every bulk contact with exactly the id sent (also those applied before their record)
    const dump = (await mi(n1, dir, 'ul_dump')) as {
      result?: { Domains?: Array<{ AORs?: Array<{ AOR: string; Contacts?: Array<{ ContactID: string }> }> }> };
    };
    const ids = new Map<string, string | undefined>();
    for (const a of dump.result?.Domains?.flatMap((d) => d.AORs ?? []) ?? []) ids.set(a.AOR, a.Contacts?.[0]?.ContactID);
    let idMismatches = 0;
    for (let i = 0; i < BULK; i++) if (ids.get(`bulk${i}`) !== contactId(`bulk${i}`, 1000 + i, 3).toString()) idMismatches++;
    report.bulk = {
      idMismatches,
      records: BULK,
      packets: 2 * BULK,
      bytes,
      drains,
      pace: PACE,
      window: WINDOW,
      barrierFailures,
      downs: events.filter((e) => e.ev === 'down' && e.at >= b0).map((e) => e.reason),
      sendAndFlushMs: flushed - b0,
      allInMemoryMs,
      contactsBefore: before,
      contactsAfter: await contacts(),
      progress,
      nodeStatus: node.status(),
    };
  }

  // 5. a node whose CAP_UPDATE seq_no starts at 1 again
  await node.stop();
  await sleep(2000);
  const peer = await ScriptedPeer.start({
    clusterId: 1,
    nodeId: ME,
    port: ulbridgePort,
    neighbours: [{ nodeId: REG, port: n1.binPort }],
    capabilities: [USRLOC_CAPABILITY],
  });
  peer.begin();
  await sleep(6000);
  const caps = peer
    .internal('CAP_UPDATE')
    .map((r) => (r.packet.kind === 'internal' && r.packet.message.type === 'CAP_UPDATE' ? r.packet.message : null));
  report.seqFromOne = {
    capUpdatesFromRegistrar: caps.map((c) => ({ seqNo: c?.seqNo, requireReply: c?.requireReply })),
    pongs: peer.internal('PONG').length,
    clusterer_list: await mi(n1, dir, 'clusterer_list'),
  };
  await peer.stop();

  report.events = events;
  report.sent = sent;
  killRegistrar();
  await sleep(500);
  report.registrarLogErrors = Buffer.concat(logChunks)
    .toString('utf8')
    .split('\n')
    .filter((l) => /ERROR|CRITICAL|WARNING/.test(l));
  writeFileSync(n1.log, Buffer.concat(logChunks));
  report.registrarLog = n1.log;
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  pg.stop();
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    try {
      killRegistrar();
    } catch {
      /* gone */
    }
    say(`failed: ${(e as Error).stack ?? String(e)}`);
    if (logPath) writeFileSync(logPath, Buffer.concat(logChunks));
    say(`registrar log: ${logPath ?? '-'}`);
    const log = Buffer.concat(logChunks).toString('utf8');
    say(`registrar log tail:\n${log.split('\n').slice(-40).join('\n')}`);
    try {
      pgRef?.stop();
    } catch {
      /* already stopped */
    }
    process.exit(1);
  },
);
