/** A throwaway MariaDB server: ROW binlog with full row images for Debezium, 127.0.0.1 only. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findMariaDb } from './binaries.js';
import type { ServiceContext } from './context.js';
import { isRoot } from './osuser.js';
import { HOST } from './ports.js';
import { probeMariaDb } from './probes.js';
import { runLogged, spawnLogged, type Spawned } from './process.js';
import type { MariaDbInfo } from './types.js';
import { waitUntilReady } from './wait.js';

export interface MariaDbOptions {
  port: number;
  mariadbd?: string;
  installDb?: string;
  extraArgs?: string[];
}

/** mariadbd options (all on the command line, --no-defaults so no my.cnf leaks in). */
export function mariadbArgs(home: string, port: number): string[] {
  const data = join(home, 'data');
  return [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    `--bind-address=${HOST}`,
    `--socket=${join(home, 'mariadb.sock')}`,
    `--pid-file=${join(home, 'mariadb.pid')}`,
    `--tmpdir=${join(home, 'tmp')}`,
    ...(isRoot() ? ['--user=root'] : []),
    '--skip-name-resolve',
    // binlog for CDC
    '--server-id=1',
    `--log-bin=${join(home, 'binlog', 'mariadb-bin')}`,
    '--binlog-format=ROW',
    '--binlog-row-image=FULL',
    '--expire-logs-days=1',
    // fast; the data is thrown away. The buffer pool holds a 200,000-row location table with
    // ulbridge's state (as a registrar's server holds its tables): at 64M the benches measured the
    // disk (docs/performance.md, "MariaDB's buffer pool"). Allocated as pages are used.
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_general_ci',
    '--innodb-buffer-pool-size=512M',
    '--innodb-log-file-size=256M',
    '--innodb-flush-log-at-trx-commit=0',
    '--sync-binlog=0',
    '--performance-schema=OFF',
    '--max-connections=200',
  ];
}

export async function startMariaDb(ctx: ServiceContext, opts: MariaDbOptions): Promise<{ info: MariaDbInfo; proc: Spawned }> {
  const bins = findMariaDb({
    ...(opts.mariadbd ? { mariadbd: opts.mariadbd } : {}),
    ...(opts.installDb ? { installDb: opts.installDb } : {}),
  });
  const home = join(ctx.dir, 'mariadb');
  for (const d of ['data', 'binlog', 'tmp']) mkdirSync(join(home, d), { recursive: true });
  ctx.log('mariadb: mariadb-install-db');
  await runLogged(
    {
      name: 'mariadb',
      command: bins.installDb,
      args: [
        '--no-defaults',
        `--datadir=${join(home, 'data')}`,
        ...(isRoot() ? ['--user=root'] : []),
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ],
      logFile: join(ctx.logDir, 'mariadb-install-db.log'),
      cwd: home,
    },
    ctx.timeoutMs,
  );
  const proc = await spawnLogged({
    name: 'mariadb',
    command: bins.mariadbd,
    args: [...mariadbArgs(home, opts.port), ...(opts.extraArgs ?? [])],
    logFile: join(ctx.logDir, 'mariadb.log'),
    cwd: home,
  });
  ctx.track(proc);
  const info: MariaDbInfo = { url: `mysql://root@${HOST}:${opts.port}/`, host: HOST, port: opts.port, user: 'root' };
  await waitUntilReady(proc, {
    probe: () => probeMariaDb(info.url),
    what: `SELECT 1 on ${info.url}`,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
  });
  return { info, proc };
}
