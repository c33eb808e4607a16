import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric ulbridge exports, in one registry per process. Stage label values:
 * `ingest` (CDC topic -> registration log) and `project` (registration log -> target table).
 */
export class Metrics {
  readonly registry = new Registry();

  readonly eventsIn = new Counter({
    name: 'ulbridge_events_in_total',
    help: 'Events consumed, per stage and pipeline (source or target name)',
    labelNames: ['stage', 'pipeline'] as const,
    registers: [this.registry],
  });

  readonly eventsOut = new Counter({
    name: 'ulbridge_events_out_total',
    help: 'Events produced (ingest) or applied (project), per stage, pipeline and outcome',
    labelNames: ['stage', 'pipeline', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly deadLetters = new Counter({
    name: 'ulbridge_dead_letters_total',
    help: 'Events sent to the dead-letter topic, per pipeline and reason code',
    labelNames: ['pipeline', 'reason'] as const,
    registers: [this.registry],
  });

  readonly applyLatency = new Histogram({
    name: 'ulbridge_apply_latency_seconds',
    help: 'From the source change (Debezium source.ts_ms) to the commit of its target row',
    labelNames: ['target'] as const,
    buckets: [0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly pushLatency = new Histogram({
    name: 'ulbridge_push_latency_seconds',
    help: 'Cluster push: from the source change (Debezium source.ts_ms) to the registrar node having read its packets (a barrier after them)',
    labelNames: ['target', 'node'] as const,
    buckets: [0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly pushPackets = new Counter({
    name: 'ulbridge_push_packets_total',
    help: 'Cluster push: usrloc replication packets written to a registrar node, per target, node and packet type',
    labelNames: ['target', 'node', 'type'] as const,
    registers: [this.registry],
  });

  readonly pushSkipped = new Counter({
    name: 'ulbridge_push_skipped_total',
    help: 'Cluster push: packets not sent because the registrar node was down (it gets the table replayed when it is back)',
    labelNames: ['target', 'node'] as const,
    registers: [this.registry],
  });

  readonly pushNodeUp = new Gauge({
    name: 'ulbridge_push_node_up',
    help: 'Cluster push: 1 while the registrar node is up (handshake done), else 0',
    labelNames: ['target', 'node'] as const,
    registers: [this.registry],
  });

  readonly pushReplays = new Counter({
    name: 'ulbridge_push_replays_total',
    help: 'Cluster push: completed replays of the whole table to a registrar node that came up',
    labelNames: ['target', 'node'] as const,
    registers: [this.registry],
  });

  readonly pushReceived = new Counter({
    name: 'ulbridge_push_received_total',
    help: 'Cluster push: module packets received from the registrars (their own replication; not needed, counted)',
    labelNames: ['target', 'node', 'capability'] as const,
    registers: [this.registry],
  });

  readonly batchSeconds = new Histogram({
    name: 'ulbridge_batch_seconds',
    help: 'Time to process one consumed batch, per stage and pipeline',
    labelNames: ['stage', 'pipeline'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly lag = new Gauge({
    name: 'ulbridge_consumer_lag',
    help: 'High watermark minus next offset to process, per stage, pipeline, topic and partition',
    labelNames: ['stage', 'pipeline', 'topic', 'partition'] as const,
    registers: [this.registry],
  });

  readonly lastEventAge = new Gauge({
    name: 'ulbridge_last_event_timestamp_seconds',
    help: 'Unix time of the source change of the last event processed, per stage and pipeline',
    labelNames: ['stage', 'pipeline'] as const,
    registers: [this.registry],
  });

  readonly captureRunning = new Gauge({
    name: 'ulbridge_capture_running',
    help: 'Debezium connector and all its tasks RUNNING (PostgreSQL: its slot in use): 1, else 0; per capture stage, pipeline and connector',
    labelNames: ['stage', 'pipeline', 'connector'] as const,
    registers: [this.registry],
  });

  readonly captureLagBytes = new Gauge({
    name: 'ulbridge_capture_lag_bytes',
    help: 'WAL or binlog bytes the Debezium connector is behind its database at the last check (absent when unknown)',
    labelNames: ['stage', 'pipeline', 'connector'] as const,
    registers: [this.registry],
  });

  readonly captureBehindSeconds = new Gauge({
    name: 'ulbridge_capture_behind_seconds',
    help: 'Seconds since the last check that found the connector running and within capture.maxLagBytes (0: it is now)',
    labelNames: ['stage', 'pipeline', 'connector'] as const,
    registers: [this.registry],
  });

  readonly captureLastCheck = new Gauge({
    name: 'ulbridge_capture_last_check_timestamp_seconds',
    help: 'Unix time of the last completed check of the Debezium connectors',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'ulbridge_' });
  }
}
