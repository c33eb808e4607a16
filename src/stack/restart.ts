/**
 * Stopping and starting one service of a running stack, on the same port and with the same data
 * directory, so clients reconnect to it: a clean stop, a crash (`SIGKILL` of every process of the
 * service) or, for PostgreSQL, an immediate shutdown (`SIGQUIT`, what `pg_ctl stop -m immediate`
 * sends). Nothing is initialised again (no initdb, no storage format): the service restarts on the
 * data it had, as after a real crash.
 */
import { join } from 'node:path';
import { StackError } from './errors.js';
import { assertPortFree } from './ports.js';
import { postgresEnv, runAs } from './postgres.js';
import { probeConnect, probeKafka, probeMariaDb, probePostgres } from './probes.js';
import { isAlive, serviceProcesses, sleep, spawnLogged, stopGroup, type SpawnSpec } from './process.js';
import { SERVICES, type ServiceName, type ServiceProcess, type StackState } from './types.js';
import { waitUntilReady } from './wait.js';

/** How long a clean stop may take before whatever is left gets SIGKILL. */
export const GRACE_MS: Record<ServiceName, number> = { postgres: 15_000, mariadb: 20_000, kafka: 30_000, connect: 30_000 };

export interface ServiceStopOptions {
  /** SIGKILL every process of the service at once, as a crash would (default: its clean stop signal). */
  kill?: boolean;
  /**
   * Send this signal to the service's process group instead (e.g. `SIGQUIT`: PostgreSQL's immediate
   * shutdown); whatever is still alive after `graceMs` gets SIGKILL. Ignored with `kill`.
   */
  signal?: NodeJS.Signals;
  /** Default: GRACE_MS of the service. */
  graceMs?: number;
}

export interface ServiceStartOptions {
  /** Readiness timeout (default 120 s). */
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** How long the service's ports may stay taken after the stop before STACK_PORT_IN_USE (default 30 s). */
  portWaitMs?: number;
}

export interface RestartOptions extends ServiceStopOptions, ServiceStartOptions {
  /** Stay down this long between the stop and the start (default 0). */
  downMs?: number;
}

export interface RestartResult {
  service: ServiceName;
  oldPid: number;
  pid: number;
  /** How the service was stopped: `SIGKILL`, or the signal sent. */
  signal: NodeJS.Signals;
  stopMs: number;
  /** From the start of the new process until the service answered. */
  readyMs: number;
}

/** Parses a service name (CLI argument); throws a StackError naming the valid ones. */
export function serviceName(value: string): ServiceName {
  const v = value.trim();
  if (!(SERVICES as readonly string[]).includes(v)) {
    throw new StackError('STACK_NO_SUCH_SERVICE', `unknown service ${JSON.stringify(value)}; expected one of ${SERVICES.join(', ')}`);
  }
  return v as ServiceName;
}

function processOf(state: StackState, service: ServiceName): ServiceProcess {
  const p = state.processes.find((x) => x.service === service);
  if (!state.services.includes(service) || !p) {
    throw new StackError(
      'STACK_NO_SUCH_SERVICE',
      `the stack in ${state.dir} has no ${service} (it runs ${state.services.join(', ') || 'nothing'})`,
      { service },
    );
  }
  return p;
}

/** The TCP ports a service listens on (all must be free before it starts again). */
export function servicePorts(state: StackState, service: ServiceName): number[] {
  switch (service) {
    case 'postgres':
      return state.postgres ? [state.postgres.port] : [];
    case 'mariadb':
      return state.mariadb ? [state.mariadb.port] : [];
    case 'kafka':
      return state.kafka
        ? [
            ...state.kafka.brokers.map((b) => Number(b.slice(b.lastIndexOf(':') + 1))),
            state.kafka.controllerPort,
            ...Object.values(state.kafka.extraListeners ?? {}).map((l) => l.port),
          ]
        : [];
    case 'connect':
      return state.connect ? [Number(new URL(state.connect.url).port)] : [];
  }
}

function probeOf(state: StackState, service: ServiceName): { probe: () => Promise<boolean>; what: string } {
  switch (service) {
    case 'postgres':
      return { probe: () => probePostgres(state.postgres!.url), what: `SELECT 1 on ${state.postgres!.url}` };
    case 'mariadb':
      return { probe: () => probeMariaDb(state.mariadb!.url), what: `SELECT 1 on ${state.mariadb!.url}` };
    case 'kafka':
      return { probe: () => probeKafka(state.kafka!.brokers), what: `describeCluster on ${state.kafka!.brokers.join(',')}` };
    case 'connect':
      return { probe: () => probeConnect(state.connect!.url), what: `GET ${state.connect!.url}/health` };
  }
}

/** True while any process of the service (its group or descendants) is alive. */
export function serviceRunning(state: StackState, service: ServiceName): boolean {
  return serviceProcesses(processOf(state, service).pid).length > 0;
}

/**
 * Stops one service and waits until all its processes are gone. Its entry in `state.processes`
 * stays (same pid) so that startService can start it again with the same command.
 */
export async function stopService(
  state: StackState,
  service: ServiceName,
  opts: ServiceStopOptions = {},
): Promise<{ pid: number; signal: NodeJS.Signals; stopMs: number }> {
  const p = processOf(state, service);
  const t0 = Date.now();
  const signal: NodeJS.Signals = opts.kill ? 'SIGKILL' : (opts.signal ?? p.stopSignal);
  await stopGroup(p.pid, signal, opts.graceMs ?? (signal === 'SIGKILL' ? 5_000 : GRACE_MS[service]));
  return { pid: p.pid, signal, stopMs: Date.now() - t0 };
}

/**
 * Starts a stopped service again with the command line it ran with (same ports, same data
 * directory, output appended to the same log file) and waits until it answers. Updates the pid in
 * `state.processes` (the entry object itself, so a Stack handle sees it too).
 */
export async function startService(
  state: StackState,
  service: ServiceName,
  opts: ServiceStartOptions = {},
): Promise<{ pid: number; readyMs: number }> {
  const p = processOf(state, service);
  if (isAlive(p.pid) || serviceProcesses(p.pid).length > 0) {
    throw new StackError('STACK_ALREADY_RUNNING', `${service} is still running (pid ${p.pid}); stop it first`, {
      service,
      logFile: p.logFile,
    });
  }
  // A killed JVM's leader turns zombie while its other threads still hold the sockets: give the
  // ports a moment to be released before calling them taken.
  const portDeadline = Date.now() + (opts.portWaitMs ?? 30_000);
  for (const port of servicePorts(state, service)) {
    for (;;) {
      try {
        await assertPortFree(port, service);
        break;
      } catch (e) {
        if (Date.now() >= portDeadline) throw e;
        await sleep(200);
      }
    }
  }
  const home = join(state.dir, service);
  const user = service === 'postgres' ? runAs() : undefined;
  const spec: SpawnSpec = {
    name: service,
    command: p.command[0]!,
    args: p.command.slice(1),
    logFile: p.logFile,
    cwd: home,
    ...(service === 'postgres' ? { env: postgresEnv(home) } : {}),
    ...(user ? { user } : {}),
  };
  const t0 = Date.now();
  opts.log?.(`${service}: starting again (${p.logFile})`);
  const proc = await spawnLogged(spec);
  p.pid = proc.pid;
  await waitUntilReady(proc, { ...probeOf(state, service), timeoutMs: opts.timeoutMs ?? 120_000, intervalMs: 250 });
  const readyMs = Date.now() - t0;
  opts.log?.(`${service}: ready again after ${(readyMs / 1000).toFixed(1)} s (pid ${proc.pid})`);
  return { pid: proc.pid, readyMs };
}

/** stopService, an optional pause, then startService: the same service back on the same port and data. */
export async function restartService(state: StackState, service: ServiceName, opts: RestartOptions = {}): Promise<RestartResult> {
  const stopped = await stopService(state, service, opts);
  opts.log?.(`${service}: stopped (${stopped.signal}) in ${(stopped.stopMs / 1000).toFixed(1)} s`);
  if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
  const started = await startService(state, service, opts);
  return { service, oldPid: stopped.pid, pid: started.pid, signal: stopped.signal, stopMs: stopped.stopMs, readyMs: started.readyMs };
}
