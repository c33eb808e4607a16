import type { RestartOptions, RestartResult, ServiceStartOptions, ServiceStopOptions } from './restart.js';

/** The services the stack can run, in start order. */
export const SERVICES = ['postgres', 'mariadb', 'kafka', 'connect'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface PostgresInfo {
  /** Superuser URL, database `postgres`. */
  url: string;
  host: string;
  port: number;
  user: string;
}

export interface MariaDbInfo {
  /** Superuser (root, no password) URL, no default database. */
  url: string;
  host: string;
  port: number;
  user: string;
}

export interface KafkaInfo {
  brokers: string[];
  /** The KRaft controller listener (not for clients). */
  controllerPort: number;
  /** Extra listeners by name (StartStackOptions.kafkaExtraListeners): where each listens and what it advertises. */
  extraListeners?: Record<string, { port: number; advertisedPort: number }>;
}

export interface ConnectInfo {
  /** Kafka Connect REST base URL, e.g. http://127.0.0.1:8083 */
  url: string;
}

/** One long-running process the stack started (its own process group: pgid = pid). */
export interface ServiceProcess {
  service: ServiceName;
  pid: number;
  command: string[];
  logFile: string;
  /** Signal that stops it cleanly (postgres: SIGINT = fast shutdown). */
  stopSignal: NodeJS.Signals;
}

/** Everything needed to find, probe and stop a stack later (the CLI's state file holds this). */
export interface StackState {
  version: 1;
  dir: string;
  /** Keep `dir` on stop. */
  keepDir: boolean;
  startedAt: string;
  /** Milliseconds from the start call to every service ready. */
  readyMs: number;
  /** Per service, milliseconds from the start call until it answered. */
  serviceReadyMs: Partial<Record<ServiceName, number>>;
  services: ServiceName[];
  postgres?: PostgresInfo;
  mariadb?: MariaDbInfo;
  kafka?: KafkaInfo;
  connect?: ConnectInfo;
  processes: ServiceProcess[];
}

export interface StopOptions {
  /** Keep the stack directory (data and logs) instead of removing it. */
  keepDir?: boolean;
  /** SIGKILL at once instead of a clean shutdown (tests; data is thrown away anyway). */
  fast?: boolean;
}

export interface Stack {
  readonly dir: string;
  readonly postgres?: PostgresInfo;
  readonly mariadb?: MariaDbInfo;
  readonly kafka?: { brokers: string[]; extraListeners?: Record<string, { port: number; advertisedPort: number }> };
  readonly connect?: ConnectInfo;
  readonly processes: readonly ServiceProcess[];
  readonly state: StackState;
  /** Stops every process it started, waits until they are gone and removes `dir` (unless kept). */
  stop(opts?: StopOptions): Promise<void>;
  /** Stops one service (cleanly, `kill`, or with `signal`) and starts it again on the same port and data (see restart.ts). */
  restart(service: ServiceName, opts?: RestartOptions): Promise<RestartResult>;
  /** Stops one service; it stays down until startService. */
  stopService(service: ServiceName, opts?: ServiceStopOptions): Promise<{ pid: number; signal: NodeJS.Signals; stopMs: number }>;
  /** Starts a stopped service again with its old command line, ports and data; waits until it answers. */
  startService(service: ServiceName, opts?: ServiceStartOptions): Promise<{ pid: number; readyMs: number }>;
}
