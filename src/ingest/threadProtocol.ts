import type { RelayedMetric } from '../ops/metricsRelay.js';
import type { IngestLogConfig, IngestSourceConfig } from './config.js';

/**
 * The messages between `ulbridge run`'s main thread and an ingest's worker thread
 * (src/ingest/thread.ts, src/ingest/worker.ts). The worker starts its ingest as soon as it runs.
 */

/** What the worker is given: everything it needs to open its own Kafka client and ingest. */
export interface IngestWorkerData {
  brokers: string[];
  clientId: string;
  source: IngestSourceConfig;
  log: IngestLogConfig;
  groupId: string;
  sessionTimeoutSeconds?: number;
  /** The level of the main thread's logger (a silenced bridge has a silent ingest). */
  logLevel: string;
}

/** Main -> worker: drain (finish the batch in flight, commit, leave the group), then answer 'stopped'. */
export interface StopMessage {
  type: 'stop';
}

/** Worker -> main. Messages arrive in the order posted: every metric update before 'stopped'. */
export type WorkerMessage =
  | RelayedMetric
  | { type: 'started' }
  /** The start threw; `stopped`: it was aborted by a stop, not a failure. */
  | { type: 'startFailed'; code: string; message: string; exitCode: number; stopped: boolean }
  /** The ingest failed for good after it started (e.g. its consumer crashed without restart). */
  | { type: 'failed'; message: string }
  | { type: 'stopped' }
  /** A log line as the worker's logger serialized it, for the main thread's logger's destination. */
  | { type: 'log'; line: string };
