/** Per-service "is it up?" for a stack state: the process is alive and the service answers. */
import { isAlive, serviceMemory, serviceProcesses } from './process.js';
import { probeConnect, probeKafka, probeMariaDb, probePostgres } from './probes.js';
import type { ServiceName, StackState } from './types.js';

export interface ServiceStatus {
  service: ServiceName;
  up: boolean;
  /** Process alive (pid of the group leader). */
  running: boolean;
  pid: number | undefined;
  /** Resident memory of all its processes (postgres counts its backends; shared memory once per process). */
  rssBytes: number;
  /** Proportional set size of all its processes (shared memory split), 0 if unreadable. */
  pssBytes: number;
  /** Connection address: URL or bootstrap servers. */
  address: string;
  logFile: string | undefined;
}

export function serviceAddress(state: StackState, s: ServiceName): string {
  switch (s) {
    case 'postgres':
      return state.postgres?.url ?? '';
    case 'mariadb':
      return state.mariadb?.url ?? '';
    case 'kafka':
      return state.kafka?.brokers.join(',') ?? '';
    case 'connect':
      return state.connect?.url ?? '';
  }
}

async function probe(state: StackState, s: ServiceName): Promise<boolean> {
  switch (s) {
    case 'postgres':
      return state.postgres ? probePostgres(state.postgres.url) : false;
    case 'mariadb':
      return state.mariadb ? probeMariaDb(state.mariadb.url) : false;
    case 'kafka':
      return state.kafka ? probeKafka(state.kafka.brokers) : false;
    case 'connect':
      return state.connect ? probeConnect(state.connect.url) : false;
  }
}

export async function stackStatus(state: StackState): Promise<ServiceStatus[]> {
  return Promise.all(
    state.services.map(async (service): Promise<ServiceStatus> => {
      const p = state.processes.find((x) => x.service === service);
      const running = p !== undefined && isAlive(p.pid);
      const up = running && (await probe(state, service));
      return {
        service,
        up,
        running,
        pid: p?.pid,
        ...(p ? serviceMemory(p.pid) : { rssBytes: 0, pssBytes: 0 }),
        address: serviceAddress(state, service),
        logFile: p?.logFile,
      };
    }),
  );
}

/** True if any process of the stack is still alive. */
export function anyAlive(state: StackState): boolean {
  return state.processes.some((p) => serviceProcesses(p.pid).length > 0);
}
