import type { Spawned } from './process.js';

/** What every service launcher gets from startStack. */
export interface ServiceContext {
  /** The stack directory; each service works in a subdirectory named after it. */
  dir: string;
  /** Where log files go (`<dir>/logs`). */
  logDir: string;
  /** Readiness timeout per service. */
  timeoutMs: number;
  /** Aborted when another service failed: stop waiting. */
  signal: AbortSignal;
  /** Progress line (stderr by default). */
  log: (line: string) => void;
  /** Registers a started process so a failed start can clean it up. */
  track: (p: Spawned) => void;
}
