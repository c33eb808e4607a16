/** A throwaway PostgreSQL cluster: initdb into the stack dir, logical decoding on, 127.0.0.1 only. */
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findPostgres } from './binaries.js';
import type { ServiceContext } from './context.js';
import { StackError } from './errors.js';
import { blockingAncestor, isRoot, lookupUser, type OsUser } from './osuser.js';
import { HOST } from './ports.js';
import { probePostgres } from './probes.js';
import { runLogged, spawnLogged, type Spawned } from './process.js';
import type { PostgresInfo } from './types.js';
import { waitUntilReady } from './wait.js';

export interface PostgresOptions {
  port: number;
  /** Directory holding initdb and postgres (default: newest /usr/lib/postgresql/N/bin). */
  binDir?: string;
  /** Extra `postgres` arguments (tests use this to provoke failures). */
  extraArgs?: string[];
}

/**
 * Server settings: logical decoding for ~10 Debezium connectors, no durability (throwaway data).
 * `synchronous_commit` stays on, as on a registrar's server: logical decoding sends a transaction
 * only once its WAL is flushed, so with it off every change waited for the WAL writer
 * (`wal_writer_delay`, 200 ms) before Debezium saw it. With `fsync=off` a flush is a write().
 */
export function postgresSettings(port: number, socketDir: string): Record<string, string> {
  return {
    listen_addresses: HOST,
    port: String(port),
    unix_socket_directories: socketDir,
    wal_level: 'logical',
    max_replication_slots: '20',
    max_wal_senders: '20',
    max_connections: '200',
    shared_buffers: '128MB',
    fsync: 'off',
    synchronous_commit: 'on',
    full_page_writes: 'off',
    logging_collector: 'off',
    log_destination: 'stderr',
    log_min_messages: 'warning',
  };
}

/** The OS user PostgreSQL runs as: `postgres` when we are root (it refuses root), else ourselves. */
export function runAs(): OsUser | undefined {
  if (!isRoot()) return undefined;
  const u = lookupUser('postgres');
  if (!u) {
    throw new StackError(
      'STACK_START_FAILED',
      'postgres: PostgreSQL refuses to run as root and there is no `postgres` OS user; install the postgresql apt package (it creates one) or run as a non-root user',
      { service: 'postgres' },
    );
  }
  return u;
}

/** Environment of initdb and postgres (also used when the server is restarted). */
export function postgresEnv(home: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: home, LC_ALL: 'C', LANG: 'C' };
}

export async function startPostgres(ctx: ServiceContext, opts: PostgresOptions): Promise<{ info: PostgresInfo; proc: Spawned }> {
  const bins = findPostgres(opts.binDir);
  const user = runAs();
  const home = join(ctx.dir, 'postgres');
  const data = join(home, 'data');
  mkdirSync(home, { recursive: true });
  if (user) {
    chownSync(home, user.uid, user.gid);
    const blocked = blockingAncestor(home, user);
    if (blocked) {
      throw new StackError(
        'STACK_START_FAILED',
        `postgres: PostgreSQL runs as the \`postgres\` OS user (we are root), which cannot enter ${blocked}; ` +
          `use a stack directory under /tmp (the default), or \`chmod o+x ${blocked}\``,
        { service: 'postgres' },
      );
    }
  }
  const env = postgresEnv(home);
  const initLog = join(ctx.logDir, 'postgres-initdb.log');
  ctx.log('postgres: initdb');
  await runLogged(
    {
      name: 'postgres',
      command: bins.initdb,
      args: ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync', '--no-instructions'],
      logFile: initLog,
      env,
      cwd: home,
      ...(user ? { user } : {}),
    },
    ctx.timeoutMs,
  );
  const settings = postgresSettings(opts.port, home);
  const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]), ...(opts.extraArgs ?? [])];
  const proc = await spawnLogged({
    name: 'postgres',
    command: bins.postgres,
    args,
    logFile: join(ctx.logDir, 'postgres.log'),
    env,
    cwd: home,
    ...(user ? { user } : {}),
  });
  ctx.track(proc);
  const info: PostgresInfo = { url: `postgres://postgres@${HOST}:${opts.port}/postgres`, host: HOST, port: opts.port, user: 'postgres' };
  await waitUntilReady(proc, {
    probe: () => probePostgres(info.url),
    what: `SELECT 1 on ${info.url}`,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
  });
  return { info, proc };
}
