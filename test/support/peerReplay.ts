/**
 * Replays the captured usrloc packets (test/fixtures/opensips-bin/3.6) from a scripted node into a
 * real running caching registrar and reports what the registrar then holds in memory (MI ul_dump)
 * and in its table. Each packet is decoded and re-encoded by src/cluster with its expiry moved to
 * "now + the captured interval" and the trailer rewritten to the scripted node's ids.
 *
 *   npx tsx test/support/peerReplay.ts --home /opt/opensips/3.6 [--fixtures test/fixtures/opensips-bin/3.6]
 *       [--sql-write-mode write-through|write-back] [--skip-replicated-db-ops] [--prewrite] [--kv-object]
 *
 * --prewrite plays ulbridge's part: each contact's row is written to the registrar's table (upsert
 * by contact_id, or deleted) before its packet is sent, so the report shows whether the registrar
 * then also writes the row (duplicates, key conflicts in its log) or leaves the table alone.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeUsrlocPacket, encodeUsrlocPacket, USRLOC_CAPABILITY, type UsrlocMessage } from '../../src/cluster/usrloc/index.js';
import { ScriptedPeer } from './clusterPeer.js';
import { freePort } from './net.js';
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

const HOME = arg('home');
const FIXTURES = arg('fixtures', 'test/fixtures/opensips-bin/3.6');
const WRITE_MODE = arg('sql-write-mode', 'write-through') as 'write-through' | 'write-back';
const SKIP_DB = process.argv.includes('--skip-replicated-db-ops');
const PREWRITE = process.argv.includes('--prewrite');
/** Send "{}" instead of an empty record kv-store in URECORD_INSERT. */
const KV_OBJECT = process.argv.includes('--kv-object');

function sqlStr(s: string): string {
  return s === '' ? 'NULL' : `'${s.replace(/'/g, "''")}'`;
}

/** The row ulbridge would have committed for this packet (upsert by contact_id), or its delete. */
function rowSql(m: UsrlocMessage): string | undefined {
  if (m.type === 'UCONTACT_INSERT' || m.type === 'UCONTACT_UPDATE') {
    const c = m.contact;
    const cols = {
      contact_id: c.contactId.toString(),
      username: `'${c.aor.split('@')[0] ?? c.aor}'`,
      domain: c.aor.includes('@') ? `'${c.aor.split('@')[1] ?? ''}'` : 'NULL',
      contact: sqlStr(c.contact),
      received: sqlStr(c.received),
      path: sqlStr(c.path),
      expires: c.expires.toString(),
      q: c.q < 0 ? '-1' : String(c.q / 1000),
      callid: sqlStr(c.callid),
      cseq: String(c.cseq),
      last_modified: `to_timestamp(${c.lastModified})::timestamp`,
      flags: String(c.flags),
      cflags: sqlStr(String(c.cflags)),
      user_agent: `'${c.userAgent.replace(/'/g, "''")}'`,
      socket: 'NULL',
      methods: String(c.methods | 0),
      sip_instance: sqlStr(c.instance),
      kv_store: sqlStr(c.kvStore),
      attr: sqlStr(c.attr),
    };
    const names = Object.keys(cols);
    return (
      `INSERT INTO location (${names.join(', ')}) VALUES (${Object.values(cols).join(', ')}) ` +
      `ON CONFLICT (contact_id) DO UPDATE SET ${names.map((n) => `${n} = EXCLUDED.${n}`).join(', ')}`
    );
  }
  if (m.type === 'UCONTACT_DELETE') {
    const d = m.delete;
    return `DELETE FROM location WHERE username = '${d.aor.split('@')[0] ?? d.aor}' AND contact = ${sqlStr(d.contact)} AND callid = ${sqlStr(d.callid)}`;
  }
  return undefined;
}
const say = (s: string): void => void process.stderr.write(`replay: ${s}\n`);

function shiftTimes(m: UsrlocMessage, now: bigint): UsrlocMessage {
  if (m.type === 'URECORD_INSERT' && KV_OBJECT && !m.record.kvStore) return { ...m, record: { ...m.record, kvStore: '{}' } };
  if (m.type !== 'UCONTACT_INSERT' && m.type !== 'UCONTACT_UPDATE') return m;
  const c = m.contact;
  return { ...m, contact: { ...c, expires: now + (c.expires - c.lastModified), lastModified: now } };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ulbridge-peer-replay-'));
  chmodSync(dir, 0o777);
  const pg = await startPrivatePostgres(dir);
  pg.createOpensipsDb('node1', HOME);
  const peerPort = await freePort();
  const n1: Node = await newNode(dir, 1);
  writeFileSync(
    n1.cfg,
    nodeCfg({
      dir,
      node: n1,
      mods: modulesDir(HOME),
      db: pg.url('node1'),
      persistency: 'load-from-sql',
      sqlWriteMode: WRITE_MODE,
      extra: SKIP_DB ? ['modparam("usrloc", "skip_replicated_db_ops", 1)'] : [],
      neighbours: [{ id: 2, port: peerPort }],
    }),
  );
  startOpensips(HOME, n1);
  const peer = await ScriptedPeer.start({
    clusterId: 1,
    nodeId: 2,
    port: peerPort,
    neighbours: [{ nodeId: 1, port: n1.binPort }],
    capabilities: [USRLOC_CAPABILITY],
  });
  await sleep(1000);
  peer.begin();
  await waitFor('the registrar to see node 2 up with usrloc Ok', 20000, async () => {
    const r = (await mi(n1, dir, 'clusterer_list_cap')) as { result?: unknown };
    return (
      JSON.stringify(r).includes('"Ok"') && peer.received.some((p) => p.packet.kind === 'internal' && p.packet.message.type === 'PONG')
    );
  });
  const caps = await mi(n1, dir, 'clusterer_list_cap');
  const list = await mi(n1, dir, 'clusterer_list');

  const files = readdirSync(FIXTURES)
    .filter((f) => /^\d{3}-usrloc-/.test(f))
    .sort();
  const packets = files.map((f) => Buffer.from((JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as { hex: string }).hex, 'hex'));
  const now = BigInt(Math.floor(Date.now() / 1000));
  const sent: Array<{ file: string; type: string }> = [];
  const snapshots: Record<string, unknown> = {};
  for (const [i, raw] of packets.entries()) {
    const d = decodeUsrlocPacket(raw);
    const message = shiftTimes(d.message, now);
    const sql = PREWRITE ? rowSql(message) : undefined;
    if (sql) pg.psql('node1', sql);
    const bytes = encodeUsrlocPacket({ version: d.version, message, trailer: { clusterId: 1, sourceId: 2, destId: 1 } });
    peer.sendTo(1, bytes);
    sent.push({ file: files[i]!, type: d.message.type });
    await sleep(300);
    if (files[i]!.includes('UCONTACT_INSERT') && i === 3) {
      snapshots.afterAliceTwoContacts = {
        ulDump: await mi(n1, dir, 'ul_dump'),
        table: pg.psql('node1', 'SELECT contact_id, username, contact, callid, cseq, expires FROM location ORDER BY contact_id'),
      };
    }
  }
  // write-back flushes on its timer (timer_interval, 60 s by default): wait for one round
  await sleep(WRITE_MODE === 'write-back' ? 62000 : 500);
  snapshots.end = {
    ulDump: await mi(n1, dir, 'ul_dump'),
    table: pg.psql('node1', 'SELECT contact_id, username, contact, callid, cseq, expires FROM location ORDER BY contact_id'),
  };
  await peer.stop();
  for (const p of procs) p.kill('SIGTERM');
  await sleep(1500);
  const logErrors = readFileSync(n1.log, 'utf8')
    .split('\n')
    .filter((l) => /ERROR|CRITICAL/.test(l));
  const report = {
    opensipsHome: HOME,
    mode: { sqlWriteMode: WRITE_MODE, skipReplicatedDbOps: SKIP_DB, prewrite: PREWRITE, kvObject: KV_OBJECT },
    logErrors,
    caps,
    clusterList: list,
    sent,
    snapshots,
    undecodable: peer.received.filter((p) => p.packet.kind === 'undecodable').length,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  for (const p of procs) p.kill('SIGKILL');
  say(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
