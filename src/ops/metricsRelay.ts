import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from './metrics.js';

/**
 * The metrics a stage running in a worker thread updates, relayed to the main thread's registry:
 * the process keeps one registry (one /metrics, the counters `bridge.metrics` reads), whichever
 * thread counts. Only the operations the ingest makes exist here; the types are the narrow shape
 * of prom-client's, so a Metrics instance is also an IngestMetrics.
 */
type Labels = Record<string, string>;

export interface IngestMetrics {
  readonly eventsIn: { inc(labels: Labels, value: number): void };
  readonly eventsOut: { inc(labels: Labels, value: number): void };
  readonly deadLetters: { inc(labels: Labels, value: number): void };
  readonly lag: { set(labels: Labels, value: number): void };
  readonly lastEventAge: { set(labels: Labels, value: number): void };
  readonly batchSeconds: { startTimer(labels: Labels): () => unknown };
}

const COUNTERS = ['eventsIn', 'eventsOut', 'deadLetters'] as const;
const GAUGES = ['lag', 'lastEventAge'] as const;
const HISTOGRAMS = ['batchSeconds'] as const;

type CounterName = (typeof COUNTERS)[number];
type GaugeName = (typeof GAUGES)[number];
type HistogramName = (typeof HISTOGRAMS)[number];

/** One metric update, as posted from the worker thread. */
export type RelayedMetric =
  | { type: 'metric'; name: CounterName; op: 'inc'; labels: Labels; value: number }
  | { type: 'metric'; name: GaugeName; op: 'set'; labels: Labels; value: number }
  | { type: 'metric'; name: HistogramName; op: 'observe'; labels: Labels; value: number };

/** The worker's side: an IngestMetrics whose every update is posted as a RelayedMetric. */
export function relayedIngestMetrics(post: (m: RelayedMetric) => void): IngestMetrics {
  const counter = (name: CounterName) => ({
    inc: (labels: Labels, value: number) => post({ type: 'metric', name, op: 'inc', labels, value }),
  });
  const gauge = (name: GaugeName) => ({
    set: (labels: Labels, value: number) => post({ type: 'metric', name, op: 'set', labels, value }),
  });
  return {
    eventsIn: counter('eventsIn'),
    eventsOut: counter('eventsOut'),
    deadLetters: counter('deadLetters'),
    lag: gauge('lag'),
    lastEventAge: gauge('lastEventAge'),
    batchSeconds: {
      startTimer: (labels: Labels) => {
        const started = performance.now();
        return () => post({ type: 'metric', name: 'batchSeconds', op: 'observe', labels, value: (performance.now() - started) / 1000 });
      },
    },
  };
}

export function isRelayedMetric(m: unknown): m is RelayedMetric {
  if (typeof m !== 'object' || m === null || (m as { type?: unknown }).type !== 'metric') return false;
  const { name, op, labels, value } = m as Record<string, unknown>;
  if (typeof value !== 'number' || typeof labels !== 'object' || labels === null) return false;
  return (
    (op === 'inc' && (COUNTERS as readonly unknown[]).includes(name)) ||
    (op === 'set' && (GAUGES as readonly unknown[]).includes(name)) ||
    (op === 'observe' && (HISTOGRAMS as readonly unknown[]).includes(name))
  );
}

/** The main thread's side: applies one relayed update to the process's registry. */
export function applyRelayedMetric(metrics: Metrics, m: RelayedMetric): void {
  switch (m.op) {
    case 'inc':
      (metrics[m.name] as Counter<string>).inc(m.labels, m.value);
      return;
    case 'set':
      (metrics[m.name] as Gauge<string>).set(m.labels, m.value);
      return;
    case 'observe':
      (metrics[m.name] as Histogram<string>).observe(m.labels, m.value);
      return;
  }
}
