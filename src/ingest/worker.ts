import { parentPort, workerData } from 'node:worker_threads';
import { isUlbridgeError } from '../ops/errors.js';
import { isStoppedError } from '../ops/lifecycle.js';
import { createLogger } from '../ops/logger.js';
import { relayedIngestMetrics } from '../ops/metricsRelay.js';
import { createKafka } from '../service/kafka.js';
import { createIngest } from './ingest.js';
import type { IngestWorkerData, StopMessage, WorkerMessage } from './threadProtocol.js';

/**
 * The entry point of an ingest's worker thread (spawned by src/ingest/thread.ts): one ingest with
 * its own Kafka client, its log lines and metric updates relayed to the main thread's logger and
 * registry.
 */
const port = parentPort;
if (port === null) throw new Error('src/ingest/worker.ts runs as a worker thread (src/ingest/thread.ts)');
const data = workerData as IngestWorkerData;
const post = (m: WorkerMessage): void => port.postMessage(m);

const logger = createLogger(data.logLevel, { write: (line: string) => post({ type: 'log', line }) });
let quiet = true; // kafkajs's retry noise while starting and stopping, as in the main thread
const kafka = createKafka(data.brokers, data.clientId, logger, { quiet: () => quiet });

let ingest: ReturnType<typeof createIngest> | null = null;
let stopping: Promise<void> | null = null;
port.on('message', (m: StopMessage) => {
  if (m.type !== 'stop') return;
  quiet = true;
  stopping ??= (async () => {
    await ingest?.stop();
    post({ type: 'stopped' });
    port.close();
  })();
});

try {
  ingest = createIngest({
    kafka,
    source: data.source,
    log: data.log,
    groupId: data.groupId,
    ...(data.sessionTimeoutSeconds !== undefined ? { sessionTimeoutSeconds: data.sessionTimeoutSeconds } : {}),
    logger,
    metrics: relayedIngestMetrics(post),
  });
  ingest.onFailure((message) => post({ type: 'failed', message }));
  await ingest.start();
  quiet = stopping !== null;
  post({ type: 'started' });
} catch (e) {
  const coded = isUlbridgeError(e);
  post({
    type: 'startFailed',
    code: coded ? e.code : 'INGEST_START_FAILED',
    message: e instanceof Error ? e.message : String(e),
    exitCode: coded ? e.exitCode : 2,
    stopped: isStoppedError(e),
  });
}
