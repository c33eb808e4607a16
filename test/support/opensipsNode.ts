/**
 * Running real OpenSIPS nodes for tests and captures: free ports, a private PostgreSQL (as the
 * postgres user), a registrar config for a usrloc cluster node, MI over mi_fifo. Loopback only.
 * OPENSIPS_HOME-style installs: HOME/sbin/opensips, HOME/lib64/opensips/modules,
 * HOME/share/opensips/postgres.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './net.js';

export function modulesDir(home: string): string {
  for (const d of ['lib64/opensips/modules', 'lib/opensips/modules', 'lib/x86_64-linux-gnu/opensips/modules']) {
    if (existsSync(join(home, d, 'usrloc.so'))) return join(home, d);
  }
  throw new Error(`no usrloc.so under ${home}/lib*/opensips/modules`);
}

export function pgBin(): string {
  const root = '/usr/lib/postgresql';
  const v = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (!v) throw new Error('no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)');
  return join(root, v, 'bin');
}

export const procs: ChildProcess[] = [];

/** A command-line option of the support scripts (`--name value`); required unless a default is given. */
export function cliArg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : def;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

/** A registrar node with free SIP and bin ports, its files (FIFO, config, log) in dir. */
export async function newNode(dir: string, id: number): Promise<Node> {
  return {
    id,
    sipPort: await freePort(),
    binPort: await freePort(),
    fifo: join(dir, `fifo${id}`),
    cfg: join(dir, `node${id}.cfg`),
    log: join(dir, `node${id}.log`),
  };
}

export interface Node {
  id: number;
  sipPort: number;
  binPort: number;
  fifo: string;
  cfg: string;
  log: string;
  proc?: ChildProcess;
}

export function nodeCfg(o: {
  dir: string;
  node: Node;
  mods: string;
  db: string | undefined;
  persistency: 'load-from-sql' | 'sync-from-cluster';
  neighbours: Array<{ id: number; port: number }>;
  /** usrloc sql_write_mode with a db (default write-through). */
  sqlWriteMode?: 'write-through' | 'write-back';
  /** Extra modparam lines (or any global config lines), placed before the routes. */
  extra?: string[];
}): string {
  const n = o.node;
  const lines = [
    'log_level=3',
    'stderror_enabled=yes',
    'syslog_enabled=no',
    'udp_workers=1',
    `socket=udp:127.0.0.1:${n.sipPort}`,
    `socket=bin:127.0.0.1:${n.binPort}`,
    `mpath="${o.mods}"`,
    'loadmodule "proto_udp.so"',
    'loadmodule "proto_bin.so"',
    'loadmodule "sl.so"',
    'loadmodule "tm.so"',
    'loadmodule "signaling.so"',
    'loadmodule "mi_fifo.so"',
    'loadmodule "sipmsgops.so"',
    ...(o.db ? ['loadmodule "db_postgres.so"'] : []),
    'loadmodule "clusterer.so"',
    'loadmodule "usrloc.so"',
    'loadmodule "registrar.so"',
    `modparam("mi_fifo", "fifo_name", "${n.fifo}")`,
    `modparam("mi_fifo", "reply_dir", "${o.dir}/")`,
    'modparam("clusterer", "db_mode", 0)',
    'modparam("clusterer", "ping_interval", 1)',
    'modparam("clusterer", "ping_timeout", 500)',
    `modparam("clusterer", "my_node_id", ${n.id})`,
    `modparam("clusterer", "my_node_info", "cluster_id=1,node_id=${n.id},url=bin:127.0.0.1:${n.binPort}")`,
    ...o.neighbours.map((x) => `modparam("clusterer", "neighbor_node_info", "cluster_id=1,node_id=${x.id},url=bin:127.0.0.1:${x.port}")`),
    'modparam("usrloc", "location_cluster", 1)',
    'modparam("usrloc", "cluster_mode", "full-sharing")',
    `modparam("usrloc", "restart_persistency", "${o.persistency}")`,
    ...(o.db
      ? [`modparam("usrloc", "sql_write_mode", "${o.sqlWriteMode ?? 'write-through'}")`, `modparam("usrloc", "db_url", "${o.db}")`]
      : []),
    ...(o.extra ?? []),
    'modparam("registrar", "received_avp", "$avp(rcv)")',
    'modparam("registrar", "attr_avp", "$avp(attr)")',
    'route {',
    '  if (is_method("REGISTER")) {',
    '    if (is_present_hf("X-Received")) $avp(rcv) = $hdr(X-Received);',
    '    if (is_present_hf("X-Attr")) $avp(attr) = $hdr(X-Attr);',
    '    if (is_present_hf("X-Bflag")) setbflag("NAT");',
    '    if (!save("location", "path-off")) sl_reply_error();',
    '    exit;',
    '  }',
    // A lookup probe: OPTIONS to an AOR answers 200 with the contact lookup() chose, or 404.
    '  if (is_method("OPTIONS")) {',
    '    if (lookup("location")) {',
    '      append_to_reply("X-Lookup: $ru\\r\\n");',
    '      sl_send_reply(200, "Found");',
    '    } else sl_send_reply(404, "No contact");',
    '    exit;',
    '  }',
    '  sl_send_reply(404, "Not here");',
    '  exit;',
    '}',
  ];
  return lines.join('\n') + '\n';
}

export function startOpensips(home: string, node: Node): void {
  const out = [] as Buffer[];
  const p = spawn(join(home, 'sbin/opensips'), ['-F', '-f', node.cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (b: Buffer) => out.push(b));
  p.stderr.on('data', (b: Buffer) => out.push(b));
  p.on('exit', () => writeFileSync(node.log, Buffer.concat(out)));
  const flush = setInterval(() => writeFileSync(node.log, Buffer.concat(out)), 500);
  p.on('exit', () => clearInterval(flush));
  node.proc = p;
  procs.push(p);
}

export async function mi(node: Node, dir: string, method: string, params?: unknown): Promise<unknown> {
  const name = `reply_${node.id}_${Date.now()}`;
  const replyPath = join(dir, name);
  execFileSync('mkfifo', [replyPath]);
  chmodSync(replyPath, 0o666);
  const req = JSON.stringify({ jsonrpc: '2.0', method, id: 1, ...(params === undefined ? {} : { params }) });
  writeFileSync(node.fifo, `:${name}:${req}\n`);
  const text = readFileSync(replyPath, 'utf8');
  rmSync(replyPath, { force: true });
  return JSON.parse(text) as unknown;
}

export async function waitFor(what: string, ms: number, fn: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface PrivatePostgres {
  port: number;
  url(db: string): string;
  psql(db: string, sql: string): string;
  /** Creates the database and loads OpenSIPS's standard and usrloc schema from the install. */
  createOpensipsDb(db: string, opensipsHome: string): void;
  stop(): void;
}

/** initdb + pg_ctl start under dir/pg, as the postgres user, on a free 127.0.0.1 port. */
export async function startPrivatePostgres(dir: string): Promise<PrivatePostgres> {
  const bin = pgBin();
  const pgData = join(dir, 'pg');
  const port = await freePort();
  mkdirSync(pgData);
  execFileSync('chown', ['postgres:postgres', pgData]);
  const asPg = (cmd: string, args: string[]): string =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { encoding: 'utf8', cwd: '/tmp' });
  asPg('initdb', ['-D', pgData, '-A', 'trust', '-U', 'postgres']);
  asPg('pg_ctl', ['-D', pgData, '-l', join(pgData, 'log'), '-o', `-p ${port} -k ${pgData} -c listen_addresses=127.0.0.1`, '-w', 'start']);
  const psql = (db: string, sql: string): string =>
    asPg('psql', ['-h', '127.0.0.1', '-p', String(port), '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]);
  return {
    port,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    psql,
    createOpensipsDb(db, opensipsHome) {
      psql('postgres', `CREATE DATABASE ${db}`);
      for (const f of ['standard-create.sql', 'usrloc-create.sql']) {
        asPg('psql', [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-d',
          db,
          '-v',
          'ON_ERROR_STOP=1',
          '-q',
          '-f',
          join(opensipsHome, 'share/opensips/postgres', f),
        ]);
      }
    },
    stop() {
      asPg('pg_ctl', ['-D', pgData, '-m', 'fast', '-w', 'stop']);
    },
  };
}
