import { Worker, type WorkerOptions } from 'node:worker_threads';
import { UlbridgeError } from '../ops/errors.js';
import { Lifecycle, StoppedError } from '../ops/lifecycle.js';
import { writeSerializedLine, type Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import { applyRelayedMetric, isRelayedMetric } from '../ops/metricsRelay.js';
import type { Ingest } from './ingest.js';
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
 * this thread's registry (src/ops/metricsRelay.ts), its log lines to this thread's logger's destination.
 */
export function createIngestThread(opts: IngestThreadOptions): Ingest {
  const { logger, metrics, ...rest } = opts;
  const data: IngestWorkerData = { ...rest, logLevel: logger.level };
  const what = `ingest "${data.source.name}"`;
  const lifecycle = new Lifecycle(what, (w, err) => logger.warn({ err }, `${w} failed to close`));

  /** Spawns the worker and resolves when its ingest has started; the drain is held by the lifecycle. */
  async function startWorker(): Promise<void> {
    const w = spawnIngestWorker(data);
    let onStopped: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (onStopped = resolve));
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const drain = (): void => w.postMessage({ type: 'stop' } satisfies StopMessage);
    lifecycle.hold('its worker thread', async () => {
      drain();
      await stopped;
      await w.terminate();
      await exited;
    });
    // Stopped while starting: the thread ends at once. Its start may wait on Kafka (kafkajs retries
    // a broker that does not answer, with growing pauses) and has nothing to drain yet; a thread
    // ended mid-batch is a crash, which the ingest's commits are made to survive.
    let started = false;
    lifecycle.signal.addEventListener(
      'abort',
      () => {
        if (!started) void w.terminate();
      },
      { once: true },
    );
    await new Promise<void>((resolve, reject) => {
      /** A failure of the thread itself: ends a start, or marks a running stage failed. */
      const crashed = (message: string): void => {
        if (lifecycle.state === 'running') lifecycle.fail(new Error(message));
        else reject(new UlbridgeError('INGEST_START_FAILED', message));
      };
      w.on('message', (m: WorkerMessage) => {
        if (isRelayedMetric(m)) {
          applyRelayedMetric(metrics, m);
          return;
        }
        switch (m.type) {
          case 'started':
            started = true;
            resolve();
            return;
          case 'startFailed':
            reject(m.stopped ? new StoppedError(what) : new UlbridgeError(m.code, m.message, m.exitCode));
            return;
          case 'failed':
            lifecycle.fail(new Error(m.message));
            return;
          case 'stopped':
            onStopped();
            return;
          case 'log':
            writeSerializedLine(logger, m.line);
            return;
        }
      });
      // An exception the ingest did not catch ends the thread: the stage has failed for good.
      w.on('error', (e) => {
        logger.error({ err: e, stage: 'ingest', pipeline: data.source.name }, 'ingest thread crashed');
        crashed(`${what}: its worker thread crashed: ${e.message}`);
      });
      w.once('exit', (code) => {
        onStopped();
        if (lifecycle.stopRequested) reject(new StoppedError(what));
        else crashed(`${what}: its worker thread exited (code ${code})`);
      });
    });
  }

  return {
    start: () => lifecycle.start(startWorker),
    stop: () => lifecycle.stop(),
    status: () => ({ state: lifecycle.state, error: lifecycle.failure }),
    onFailure: (listener) => lifecycle.onFailure(listener),
  };
}

/**
 * The worker runs the compiled dist/ingest/worker.js; from the TypeScript sources (tests, the
 * bench under tsx) it registers tsx first, which a worker does not inherit from its parent.
 */
function spawnIngestWorker(data: IngestWorkerData): Worker {
  const options = ingestWorkerOptions(data);
  if (import.meta.url.endsWith('.js')) return new Worker(new URL('./worker.js', import.meta.url), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/**
 * The ingest thread's young generation, in MiB (V8 gives it three semi-spaces' worth: 12 is a
 * 4 MiB semi-space, against 16 MiB by default). Events stream through the thread as short-lived
 * objects; a smaller nursery is scavenged more often, which cost no measurable time, and took
 * ~30 MiB off the peak resident memory of `ulbridge run` (docs/performance.md, "Memory").
 */
export const INGEST_YOUNG_GENERATION_MB = 12;

export function ingestWorkerOptions(data: IngestWorkerData): WorkerOptions {
  return { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: INGEST_YOUNG_GENERATION_MB } };
}
