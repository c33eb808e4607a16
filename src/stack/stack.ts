/**
 * startStack: PostgreSQL, MariaDB, Kafka (KRaft) and Kafka Connect + Debezium on 127.0.0.1, free
 * ports, one temporary directory. The databases start while the JVM side fetches jars (first run)
 * and formats Kafka's storage; Connect starts once the broker answers.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startConnect } from './connect.js';
import type { ServiceContext } from './context.js';
import { StackError } from './errors.js';
import { ensureJars } from './jars.js';
import { findJava } from './java.js';
import { ensureSystemPackages } from './systemPackages.js';
import { startKafka } from './kafka.js';
import { startMariaDb } from './mariadb.js';
import { isRoot } from './osuser.js';
import { allocatePorts, HOST } from './ports.js';
import { startPostgres } from './postgres.js';
import { GRACE_MS, restartService, startService, stopService } from './restart.js';
import { killGroup, serviceProcesses, stopGroup, type Spawned } from './process.js';
import { SERVICES, type ServiceName, type ServiceProcess, type Stack, type StackState, type StopOptions } from './types.js';

export interface StartStackOptions {
  /** Which services (default: all four). `connect` implies `kafka`. */
  services?: ServiceName[];
  /** Stack directory; created if missing, must be empty. Default: a new directory under the OS temp dir. */
  dir?: string;
  /** Keep `dir` when the stack is stopped. */
  keepDir?: boolean;
  /** Keep `dir` (logs) when start-up fails (default true, so the log named in the error stays readable). */
  keepDirOnFailure?: boolean;
  /** Fixed ports; unset ones are picked free. A fixed port in use is STACK_PORT_IN_USE. */
  ports?: Partial<Record<ServiceName | 'kafkaController', number>>;
  /** java executable (default $ULBRIDGE_JAVA, $JAVA_HOME/bin/java, java). */
  java?: string;
  /** mvn executable for the first-run jar fetch (default $ULBRIDGE_MVN, mvn). */
  mvn?: string;
  /** Jar cache root (default $ULBRIDGE_CACHE_DIR/jars or ~/.cache/ulbridge/jars). */
  jarsCacheDir?: string;
  /** PostgreSQL bin directory (default $ULBRIDGE_PG_BIN or the newest /usr/lib/postgresql/N/bin). */
  pgBinDir?: string;
  mariadbd?: string;
  mariadbInstallDb?: string;
  /** JVM -Xmx (defaults: kafka 512m, connect 768m). */
  heap?: { kafka?: string; connect?: string };
  /** Readiness timeout per service (default 120 s). */
  timeoutMs?: number;
  /** Progress lines (default: stderr, prefixed "ulbridge stack:"). */
  log?: (line: string) => void;
  /**
   * Leave the processes running after this Node process exits (CLI `stack up`). By default they are
   * SIGKILLed when this process exits without calling stop().
   */
  detached?: boolean;
  /**
   * Extra PLAINTEXT listeners of the broker, each on a free port and advertising 127.0.0.1:advertisedPort
   * (a TCP proxy in front of the broker; see KafkaExtraListener). Their ports: `stack.kafka.extraListeners`.
   */
  kafkaExtraListeners?: Array<{ name: string; advertisedPort: number }>;
  /** Extra command-line arguments per service (diagnostics; tests provoke start-up failures with it). */
  extraArgs?: Partial<Record<ServiceName, string[]>>;
}

const STOP_SIGNAL: Record<ServiceName, NodeJS.Signals> = {
  postgres: 'SIGINT', // fast shutdown (SIGTERM would wait for clients to leave)
  mariadb: 'SIGTERM',
  kafka: 'SIGTERM',
  connect: 'SIGTERM',
};

export function resolveServices(services?: readonly ServiceName[]): ServiceName[] {
  const wanted = new Set<ServiceName>(services && services.length > 0 ? services : SERVICES);
  for (const s of wanted) {
    if (!SERVICES.includes(s))
      throw new StackError('STACK_START_FAILED', `unknown service ${JSON.stringify(s)}; expected ${SERVICES.join(', ')}`);
  }
  if (wanted.has('connect')) wanted.add('kafka');
  return SERVICES.filter((s) => wanted.has(s));
}

function prepareDir(dir: string | undefined): string {
  let d: string;
  if (dir) {
    d = resolve(dir);
    if (existsSync(d) && readdirSync(d).length > 0) {
      throw new StackError('STACK_START_FAILED', `stack directory ${d} is not empty; pass an empty or new directory`);
    }
    mkdirSync(d, { recursive: true });
  } else {
    d = mkdtempSync(join(tmpdir(), 'ulbridge-stack-'));
  }
  // The postgres OS user (when we are root) must be able to reach its subdirectory.
  if (isRoot()) chmodSync(d, 0o755);
  mkdirSync(join(d, 'logs'), { recursive: true });
  return d;
}

const defaultLog = (line: string): void => {
  process.stderr.write(`ulbridge stack: ${line}\n`);
};

export async function startStack(opts: StartStackOptions = {}): Promise<Stack> {
  const t0 = Date.now();
  const services = resolveServices(opts.services);
  const log = opts.log ?? defaultLog;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  await ensureSystemPackages(services, log, {
    ...(opts.pgBinDir ? { pgBinDir: opts.pgBinDir } : {}),
    ...(opts.java ? { java: opts.java } : {}),
    ...(opts.mvn ? { mvn: opts.mvn } : {}),
    ...(opts.mariadbd ? { mariadbd: opts.mariadbd } : {}),
  });
  const dir = prepareDir(opts.dir);
  const procs: Array<{ service: ServiceName; p: Spawned }> = [];
  const ac = new AbortController();
  let firstError: Error | undefined;
  const ctx = (service: ServiceName): ServiceContext => ({
    dir,
    logDir: join(dir, 'logs'),
    timeoutMs,
    signal: ac.signal,
    log,
    track: (p) => procs.push({ service, p }),
  });
  const state: StackState = {
    version: 1,
    dir,
    keepDir: opts.keepDir ?? false,
    startedAt: new Date(t0).toISOString(),
    readyMs: 0,
    serviceReadyMs: {},
    services,
    processes: [],
  };
  // Kills what start-up spawned and, once started, the current pids (a restarted service has a new one).
  const exitHook = (): void => {
    for (const pid of new Set([...procs.map(({ p }) => p.pid), ...state.processes.map((p) => p.pid)])) {
      const all = serviceProcesses(pid);
      killGroup(pid, 'SIGKILL');
      for (const child of all) killGroup(child, 'SIGKILL');
    }
  };
  if (!opts.detached) process.on('exit', exitHook);
  const has = (s: ServiceName): boolean => services.includes(s);
  const ready = (s: ServiceName): void => {
    state.serviceReadyMs[s] = Date.now() - t0;
    log(`${s}: ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      firstError ??= e instanceof Error ? e : new Error(String(e));
      ac.abort();
      throw e;
    });

  try {
    log(`starting ${services.join(', ')} in ${dir}`);
    const ports = await allocatePorts([
      ...(has('postgres') ? [{ name: 'postgres', port: opts.ports?.postgres }] : []),
      ...(has('mariadb') ? [{ name: 'mariadb', port: opts.ports?.mariadb }] : []),
      ...(has('kafka')
        ? [
            { name: 'kafka', port: opts.ports?.kafka },
            { name: 'kafkaController', port: opts.ports?.kafkaController },
          ]
        : []),
      ...(has('kafka') ? (opts.kafkaExtraListeners ?? []).map((l) => ({ name: `kafkaListener:${l.name}`, port: undefined })) : []),
      ...(has('connect') ? [{ name: 'connect', port: opts.ports?.connect }] : []),
    ]);
    const port = (n: string): number => ports.get(n)!;
    const tasks: Array<Promise<unknown>> = [];
    if (has('postgres')) {
      tasks.push(
        guard(
          startPostgres(ctx('postgres'), {
            port: port('postgres'),
            ...(opts.pgBinDir ? { binDir: opts.pgBinDir } : {}),
            extraArgs: opts.extraArgs?.postgres ?? [],
          }).then((r) => {
            state.postgres = r.info;
            ready('postgres');
          }),
        ),
      );
    }
    if (has('mariadb')) {
      tasks.push(
        guard(
          startMariaDb(ctx('mariadb'), {
            port: port('mariadb'),
            ...(opts.mariadbd ? { mariadbd: opts.mariadbd } : {}),
            ...(opts.mariadbInstallDb ? { installDb: opts.mariadbInstallDb } : {}),
            extraArgs: opts.extraArgs?.mariadb ?? [],
          }).then((r) => {
            state.mariadb = r.info;
            ready('mariadb');
          }),
        ),
      );
    }
    if (has('kafka')) {
      // Java first: a missing runtime should fail fast, not after a first-run jar download.
      const jvm = (async () => {
        const java = await findJava(opts.java);
        const jars = await ensureJars({
          log,
          ...(opts.mvn ? { mvn: opts.mvn } : {}),
          ...(opts.jarsCacheDir ? { cacheDir: opts.jarsCacheDir } : {}),
        });
        return { java, jars };
      })();
      let kafkaSpawned!: () => void;
      const spawned = new Promise<void>((r) => {
        kafkaSpawned = r;
      });
      const kafkaTask = guard(
        jvm.then(async ({ java, jars }) => {
          const k = await startKafka(ctx('kafka'), {
            port: port('kafka'),
            controllerPort: port('kafkaController'),
            java,
            jars,
            ...(opts.heap?.kafka ? { heap: opts.heap.kafka } : {}),
            extraArgs: opts.extraArgs?.kafka ?? [],
            onSpawned: kafkaSpawned,
            extraListeners: (opts.kafkaExtraListeners ?? []).map((l) => ({ ...l, port: port(`kafkaListener:${l.name}`) })),
          });
          state.kafka = k.info;
          ready('kafka');
        }),
      );
      tasks.push(kafkaTask);
      if (has('connect')) {
        // Connect starts as soon as the broker process runs: its JVM start and plugin loading overlap
        // the broker's start-up, and it waits for the broker by itself.
        tasks.push(
          guard(
            Promise.race([spawned, kafkaTask]).then(async () => {
              const { java, jars } = await jvm;
              const c = await startConnect(ctx('connect'), {
                port: port('connect'),
                brokers: [`${HOST}:${port('kafka')}`],
                java,
                jars,
                ...(opts.heap?.connect ? { heap: opts.heap.connect } : {}),
                extraArgs: opts.extraArgs?.connect ?? [],
              });
              await kafkaTask;
              state.connect = c.info;
              ready('connect');
            }),
          ),
        );
      }
    }
    await Promise.allSettled(tasks);
    if (firstError !== undefined) throw firstError;
  } catch (e) {
    ac.abort();
    await Promise.all(procs.map(({ p }) => stopGroup(p.pid, 'SIGKILL', 5_000)));
    if (!opts.detached) process.off('exit', exitHook);
    if (opts.keepDirOnFailure === false) rmSync(dir, { recursive: true, force: true });
    else log(`start-up failed; logs kept in ${join(dir, 'logs')}`);
    throw e;
  }

  state.processes = procs.map(({ service, p }): ServiceProcess => ({
    service,
    pid: p.pid,
    command: p.argv,
    logFile: p.logFile,
    stopSignal: STOP_SIGNAL[service],
  }));
  state.readyMs = Date.now() - t0;
  log(`ready after ${(state.readyMs / 1000).toFixed(1)} s`);
  return attachStack(state, opts.detached ? undefined : exitHook);
}

/** Stops the processes of a stack state: Connect first (it still talks to Kafka), then the rest together. */
export async function stopState(state: StackState, opts: StopOptions = {}): Promise<void> {
  const stopOne = (p: ServiceProcess): Promise<void> =>
    stopGroup(p.pid, opts.fast ? 'SIGKILL' : p.stopSignal, opts.fast ? 5_000 : GRACE_MS[p.service]);
  await Promise.all(state.processes.filter((p) => p.service === 'connect').map(stopOne));
  await Promise.all(state.processes.filter((p) => p.service !== 'connect').map(stopOne));
  if (!(opts.keepDir ?? state.keepDir)) rmSync(state.dir, { recursive: true, force: true });
}

/** A Stack handle for a state (one just started, or one read back from the CLI's state file). */
export function attachStack(state: StackState, exitHook?: () => void): Stack {
  let stopped: Promise<void> | undefined;
  return {
    dir: state.dir,
    ...(state.postgres ? { postgres: state.postgres } : {}),
    ...(state.mariadb ? { mariadb: state.mariadb } : {}),
    ...(state.kafka
      ? { kafka: { brokers: state.kafka.brokers, ...(state.kafka.extraListeners ? { extraListeners: state.kafka.extraListeners } : {}) } }
      : {}),
    ...(state.connect ? { connect: state.connect } : {}),
    processes: state.processes,
    state,
    restart: (service, o) => restartService(state, service, o),
    stopService: (service, o) => stopService(state, service, o),
    startService: (service, o) => startService(state, service, o),
    stop(opts?: StopOptions): Promise<void> {
      stopped ??= stopState(state, opts).finally(() => {
        if (exitHook) process.off('exit', exitHook);
      });
      return stopped;
    },
  };
}
