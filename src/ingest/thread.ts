import { Worker } from 'node:worker_threads';
import { UlbridgeError } from '../ops/errors.js';
import { StoppedError } from '../ops/lifecycle.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import { applyRelayedMetric, isRelayedMetric } from '../ops/metricsRelay.js';
import type { Ingest, IngestState } from './ingest.js';
import type { IngestWorkerData, StopMessage, WorkerMessage } from './threadProtocol.js';

export interface IngestThreadOptions extends Omit<IngestWorkerData, 'logLevel'> {
  logger: Logger;
  /** The process's registry: the worker's metric updates are applied to it. */
  metrics: Metrics;
}

/**
 * An ingest (src/ingest/ingest.ts) in its own worker thread, behind the same Ingest interface.
 * `ulbridge run` decodes CDC events on one core while the projection applies them on the other:
 * in one thread the two stages took turns (docs/performance.md). The stages meet only through
 * Kafka (the registration log), so nothing else is shared; the worker's metric updates land in
 * this thread's registry (src/ops/metricsRelay.ts), its log lines go to stderr itself.
 */
export function createIngestThread(opts: IngestThreadOptions): Ingest {
  const { logger, metrics, ...rest } = opts;
  const data: IngestWorkerData = { ...rest, logLevel: logger.level };
  const what = `ingest "${data.source.name}"`;
  let state: IngestState = 'idle';
  let failure: string | null = null;
  const failureListeners: Array<(message: string) => void> = [];
  let worker: Worker | null = null;
  let exited: Promise<void> = Promise.resolve();
  let stopped: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | null = null;

  function fail(message: string): void {
    state = 'failed';
    if (failure !== null) return;
    failure = message;
    for (const listener of failureListeners) listener(message);
  }

  function start(): Promise<void> {
    if (state !== 'idle') return Promise.reject(new UlbridgeError('INVALID_STATE', `${what} cannot start: it is ${state}`));
    state = 'starting';
    const w = spawnIngestWorker(data);
    worker = w;
    let onStopped: () => void = () => undefined;
    stopped = new Promise<void>((resolve) => (onStopped = resolve));
    exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    return new Promise<void>((resolve, reject) => {
      w.on('message', (m: WorkerMessage) => {
        if (isRelayedMetric(m)) {
          applyRelayedMetric(metrics, m);
          return;
        }
        switch (m.type) {
          case 'started':
            if (state === 'starting') state = 'running';
            resolve();
            return;
          case 'startFailed':
            if (m.stopped) {
              reject(new StoppedError(what));
              return;
            }
            fail(m.message);
            reject(new UlbridgeError(m.code, m.message, m.exitCode));
            return;
          case 'failed':
            fail(m.message);
            return;
          case 'stopped':
            onStopped();
            return;
        }
      });
      // An exception the ingest did not catch ends the thread: the stage has failed for good.
      w.on('error', (e) => {
        const message = `${what}: its worker thread crashed: ${e.message}`;
        logger.error({ err: e, stage: 'ingest', pipeline: data.source.name }, 'ingest thread crashed');
        fail(message);
        reject(new UlbridgeError('INGEST_START_FAILED', message));
      });
      w.once('exit', (code) => {
        onStopped();
        if (stopping === null) {
          fail(`${what}: its worker thread exited (code ${code})`);
          reject(new UlbridgeError('INGEST_START_FAILED', `${what}: its worker thread exited (code ${code}) while starting`));
        }
      });
    });
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      if (worker !== null) {
        if (state !== 'failed') state = 'stopping';
        worker.postMessage({ type: 'stop' } satisfies StopMessage);
        await stopped;
        await worker.terminate();
        await exited;
      }
      state = failure !== null ? 'failed' : 'stopped';
    })();
    return stopping;
  }

  return {
    start,
    stop,
    status: () => ({ state, error: failure }),
    onFailure: (listener) => failureListeners.push(listener),
  };
}

/**
 * The worker runs the compiled dist/ingest/worker.js; from the TypeScript sources (tests, the
 * bench under tsx) it registers tsx first, which a worker does not inherit from its parent.
 */
function spawnIngestWorker(data: IngestWorkerData): Worker {
  if (import.meta.url.endsWith('.js')) return new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}
