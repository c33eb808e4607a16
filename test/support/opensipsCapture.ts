/**
 * Captures real OpenSIPS cluster traffic as fixtures (test/fixtures/opensips-bin/<release>/).
 *
 *   npx tsx test/support/opensipsCapture.ts --home /opt/opensips/3.6 --out test/fixtures/opensips-bin/3.6
 *
 * Needs an OpenSIPS installed under --home (sbin/opensips, its modules: clusterer, proto_bin,
 * usrloc, registrar, db_postgres, mi_fifo) and Debian's PostgreSQL (run as root: PostgreSQL runs as
 * the postgres user). Everything listens on 127.0.0.1, on free ports, under one temporary directory
 * that is removed at the end (--keep leaves it).
 *
 * Topology: node 1 and node 2 are caching registrars (usrloc cluster_mode "full-sharing",
 * restart_persistency "load-from-sql", sql_write_mode "write-through", each on its own database of
 * one private PostgreSQL) in cluster 1, with clusterer in DB-less mode. Each node is told that the
 * other lives at a BinTap port, so every BIN packet between them passes a recording proxy. The
 * scenario REGISTERs, refreshes and removes contacts at node 1; then node 3 (restart_persistency
 * "sync-from-cluster") starts and pulls the whole usrloc state from node 1 (sync packets).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeBinPacket } from '../../src/cluster/bin.js';
import { CL_EXTRA_CAP, CL_INTERNAL_CAP, decodeClusterPacket, messageName } from '../../src/cluster/clusterer.js';
import { decodeUsrlocPacket, decodeUsrlocSyncChunks, USRLOC_CAPABILITY } from '../../src/cluster/usrloc/index.js';
import { BinTap } from './binTap.js';
import {
  cliArg as arg,
  newNode,
  mi,
  modulesDir,
  nodeCfg,
  procs,
  startOpensips,
  startPrivatePostgres,
  waitFor,
  type Node,
} from './opensipsNode.js';
import { SipClient } from './sipClient.js';

const HOME = arg('home');
const OUT = arg('out');
const KEEP = process.argv.includes('--keep');

function say(s: string): void {
  process.stderr.write(`capture: ${s}\n`);
}

/** JSON with bigints as decimal strings and Buffers as hex (what the fixture test compares with). */
function toJson(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return x.toString();
      const b = x as { type?: unknown; data?: unknown } | null;
      if (b && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data))
        return Buffer.from(b.data as number[]).toString('hex');
      return x;
    }),
  ) as unknown;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-opensips-capture-'));
  chmodSync(dir, 0o777);
  say(`work dir ${dir}`);
  const mods = modulesDir(HOME);
  const version = execFileSync(join(HOME, 'sbin/opensips'), ['-V'], { encoding: 'utf8' });

  // A private PostgreSQL, as the postgres user.
  const pg = await startPrivatePostgres(dir);
  const pgPort = pg.port;
  const psql = pg.psql;
  for (const db of ['node1', 'node2']) pg.createOpensipsDb(db, HOME);
  say(`PostgreSQL on 127.0.0.1:${pgPort}`);

  const nodes: Node[] = [];
  for (const id of [1, 2, 3]) {
    nodes.push(await newNode(dir, id));
  }
  const [n1, n2, n3] = nodes as [Node, Node, Node];
  // tap "a->b": b's listener seen by a.
  const taps = new Map<string, BinTap>();
  for (const a of nodes)
    for (const b of nodes) if (a !== b) taps.set(`${a.id}->${b.id}`, await BinTap.start(`node${a.id}->node${b.id}`, b.binPort));
  const tapPort = (a: Node, b: Node): number => taps.get(`${a.id}->${b.id}`)!.port;
  const dbUrl = (db: string): string => `postgres://postgres@127.0.0.1:${pgPort}/${db}`;
  writeFileSync(
    n1.cfg,
    nodeCfg({
      dir,
      node: n1,
      mods,
      db: dbUrl('node1'),
      persistency: 'load-from-sql',
      neighbours: [
        { id: 2, port: tapPort(n1, n2) },
        { id: 3, port: tapPort(n1, n3) },
      ],
    }),
  );
  writeFileSync(
    n2.cfg,
    nodeCfg({
      dir,
      node: n2,
      mods,
      db: dbUrl('node2'),
      persistency: 'load-from-sql',
      neighbours: [
        { id: 1, port: tapPort(n2, n1) },
        { id: 3, port: tapPort(n2, n3) },
      ],
    }),
  );
  writeFileSync(
    n3.cfg,
    nodeCfg({
      dir,
      node: n3,
      mods,
      db: undefined,
      persistency: 'sync-from-cluster',
      neighbours: [
        { id: 1, port: tapPort(n3, n1) },
        { id: 2, port: tapPort(n3, n2) },
      ],
    }),
  );
  for (const n of [n1, n2]) {
    execFileSync(join(HOME, 'sbin/opensips'), ['-c', '-f', n.cfg], { stdio: 'inherit' });
    startOpensips(HOME, n);
  }
  const sawUsrlocCapOk = (): boolean =>
    [...taps.values()].some((t) =>
      t.packets.some((p) => {
        try {
          const d = decodeClusterPacket(p.bytes);
          return (
            d.kind === 'internal' &&
            d.message.type === 'CAP_UPDATE' &&
            d.sourceId === 2 &&
            JSON.stringify(d.message.nodes).includes('"usrloc-contact-repl","state":1')
          );
        } catch {
          return false;
        }
      }),
    );
  await waitFor('nodes 1 and 2 up, usrloc capability Ok', 30000, sawUsrlocCapOk);
  await sleep(1500);
  say('cluster up');

  const markers: Array<{ at: string; step: string }> = [];
  const step = (s: string): void => {
    markers.push({ at: new Date().toISOString(), step: s });
    say(s);
  };
  const sip = await SipClient.open({ port: n1.sipPort });
  const ok = async (p: Promise<{ status: number; reason: string }>): Promise<void> => {
    const r = await p;
    if (r.status !== 200) throw new Error(`REGISTER answered ${r.status} ${r.reason}`);
    await sleep(700);
  };
  const inst = ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-00aabbccddee>";reg-id=1';
  step('1 REGISTER alice contact A (Call-ID ca, CSeq 1, expires 3600, q 0.5, path, received, attr, NAT bflag, instance, reg-id)');
  await ok(
    sip.register({
      user: 'alice',
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5062;transport=udp',
      contactParams: inst,
      q: '0.5',
      expires: 3600,
      callId: 'ca',
      cseq: 1,
      userAgent: 'ulbridge-capture/1.0',
      headers: ['Path: <sip:edge.example.com;lr>', 'X-Received: sip:198.51.100.7:40000', 'X-Attr: attr-a', 'X-Bflag: 1'],
    }),
  );
  step('2 refresh alice contact A (CSeq 2, expires 1800)');
  await ok(
    sip.register({
      user: 'alice',
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5062;transport=udp',
      contactParams: inst,
      q: '0.5',
      expires: 1800,
      callId: 'ca',
      cseq: 2,
      userAgent: 'ulbridge-capture/1.0',
      headers: ['Path: <sip:edge.example.com;lr>', 'X-Received: sip:198.51.100.7:40000', 'X-Attr: attr-a', 'X-Bflag: 1'],
    }),
  );
  step('3 REGISTER alice contact B (Call-ID cb, CSeq 7, expires 600, no extras)');
  await ok(
    sip.register({ user: 'alice', domain: 'example.com', contact: 'sip:alice@192.0.2.11:5060', expires: 600, callId: 'cb', cseq: 7 }),
  );
  step('4 unREGISTER alice contact A (CSeq 3, expires 0)');
  await ok(
    sip.register({
      user: 'alice',
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5062;transport=udp',
      contactParams: inst,
      expires: 0,
      callId: 'ca',
      cseq: 3,
    }),
  );
  step('5 unREGISTER alice contact B (CSeq 8, expires 0): the record empties');
  await ok(sip.register({ user: 'alice', domain: 'example.com', contact: 'sip:alice@192.0.2.11:5060', expires: 0, callId: 'cb', cseq: 8 }));
  step('6 REGISTER bob (Call-ID cc, CSeq 1, expires 3600, user agent)');
  await ok(
    sip.register({
      user: 'bob',
      domain: 'example.com',
      contact: 'sip:bob@192.0.2.20:5060',
      expires: 3600,
      callId: 'cc',
      cseq: 1,
      userAgent: 'ulbridge-capture/1.0',
    }),
  );
  await sleep(1000);
  const dump2 = await mi(n2, dir, 'ul_dump');
  step('7 node 3 starts with restart_persistency sync-from-cluster and pulls the state');
  execFileSync(join(HOME, 'sbin/opensips'), ['-c', '-f', n3.cfg], { stdio: 'inherit' });
  startOpensips(HOME, n3);
  await waitFor('sync end to node 3', 30000, () =>
    [...taps.values()].some((t) =>
      t.packets.some((p) => {
        try {
          const d = decodeClusterPacket(p.bytes);
          return d.kind === 'extra' && d.message.type === 'SYNC_END';
        } catch {
          return false;
        }
      }),
    ),
  );
  await sleep(1500);
  const dump3 = await mi(n3, dir, 'ul_dump');
  const dump1 = await mi(n1, dir, 'ul_dump');
  const rows = psql(
    'node2',
    'SELECT contact_id, username, contact, callid, cseq, expires, q, received, path, user_agent, socket, cflags, attr FROM location ORDER BY contact_id',
  );
  await sip.close();

  for (const p of procs) p.kill('SIGTERM');
  await sleep(1500);
  for (const t of taps.values()) await t.stop();
  pg.stop();

  // Write the fixtures: every module / clusterer-extra packet, and the first two of each node
  // protocol message per direction (pings repeat every second).
  const all = [...taps.values()].flatMap((t) => t.packets).sort((a, b) => a.at - b.at);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const seen = new Map<string, number>();
  const index: unknown[] = [];
  let i = 0;
  for (const p of all) {
    const bp = decodeBinPacket(p.bytes);
    const name = messageName(bp.capability, bp.type);
    if (bp.capability === CL_INTERNAL_CAP) {
      const k = `${p.via}|${name}`;
      const c = (seen.get(k) ?? 0) + 1;
      seen.set(k, c);
      if (c > 2) continue;
    }
    let decoded: unknown;
    if (bp.capability === USRLOC_CAPABILITY) decoded = decodeUsrlocPacket(p.bytes);
    else {
      const d = decodeClusterPacket(p.bytes);
      if (d.kind === 'extra' && d.message.type === 'SYNC' && d.message.capability === USRLOC_CAPABILITY) {
        decoded = { ...d, usrlocChunks: decodeUsrlocSyncChunks(d.message.dataVersion, d.message.chunks) };
      } else decoded = d;
    }
    const kind =
      bp.capability === USRLOC_CAPABILITY
        ? 'usrloc'
        : bp.capability === CL_EXTRA_CAP
          ? 'extra'
          : bp.capability === CL_INTERNAL_CAP
            ? 'internal'
            : 'module';
    const label = bp.capability === USRLOC_CAPABILITY ? (decoded as { message: { type: string } }).message.type : name;
    const file = `${String(++i).padStart(3, '0')}-${kind}-${label}.json`;
    writeFileSync(
      join(OUT, file),
      JSON.stringify(
        toJson({
          via: p.via,
          atMs: p.at,
          capability: bp.capability,
          version: bp.version,
          type: bp.type,
          hex: p.bytes.toString('hex'),
          decoded,
        }),
        null,
        2,
      ) + '\n',
    );
    index.push({ file, via: p.via, atMs: p.at, capability: bp.capability, version: bp.version, type: bp.type, name: label });
  }
  writeFileSync(
    join(OUT, 'capture.json'),
    JSON.stringify(
      toJson({
        opensips: version.trim(),
        capturedAt: new Date().toISOString(),
        steps: markers,
        packets: index,
        node2LocationTable: rows.trim().split('\n'),
        ulDump: { node1: dump1, node2: dump2, node3: dump3 },
      }),
      null,
      2,
    ) + '\n',
  );
  say(`wrote ${index.length} packets to ${OUT}`);
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
  else say(`kept ${dir}`);
}

main().catch((e: unknown) => {
  for (const p of procs) p.kill('SIGKILL');
  say(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
