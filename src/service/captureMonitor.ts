/**
 * The capture stage as metrics: `ulbridge run` checks every Debezium connector of the config
 * (sources[].capture, reverse[].capture) every `intervalMs`, the same check `ulbridge status` makes,
 * and publishes what it found:
 *
 *   ulbridge_capture_running{stage,pipeline,connector}      1: connector and tasks RUNNING (slot in use)
 *   ulbridge_capture_lag_bytes{stage,pipeline,connector}    WAL / binlog bytes behind (absent when unknown)
 *   ulbridge_capture_behind_seconds{stage,pipeline,connector}
 *       0 when the connector was within capture.maxLagBytes at the last check; otherwise the time
 *       since the last check that found it so (or since this process started checking: a lower bound)
 *   ulbridge_capture_last_check_timestamp_seconds           Unix time of the last completed check
 *
 * Seconds are measured, not converted: a WAL or binlog position maps to no commit time. The check
 * never fails the bridge; Connect not answering counts every connector as not running.
 */
import { captureStatuses, type CaptureStatus } from '../connect/connect.js';
import { configCaptures, connectUrlOf } from '../connect/fromConfig.js';
import type { Config } from '../ops/config.js';
import type { LifecycleState } from '../ops/lifecycle.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';

export interface CaptureMonitor {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One check now, besides the periodic ones (tests; figures on demand). */
  checkNow(): Promise<void>;
  readonly state: LifecycleState;
  readonly failure: string | null;
}

export interface CaptureMonitorOptions {
  cfg: Config;
  metrics: Metrics;
  logger: Logger;
  /** Time between checks (default 15 s). */
  intervalMs?: number;
  /** How long one check re-reads a connector short of the database's position (default 2 s). */
  waitMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** The check itself (tests replace Kafka Connect with a fake of its answers). */
  check?: () => Promise<CaptureStatus[]>;
}

/** Within capture.maxLagBytes: what READY asks of a running connector. */
export function withinLag(c: CaptureStatus): boolean {
  return c.caughtUp || (c.lagBytes !== null && BigInt(c.lagBytes) <= BigInt(c.maxLagBytes));
}

/** null when the config names no connector to check (no capture entries or no connect.url). */
export function createCaptureMonitor(o: CaptureMonitorOptions): CaptureMonitor | null {
  const captures = configCaptures(o.cfg);
  if (captures.length === 0 || !o.cfg.connect?.url) return null;
  const connectUrl = connectUrlOf(o.cfg);
  const now = o.now ?? Date.now;
  const check = o.check ?? (() => captureStatuses(o.cfg, connectUrl, { waitMs: o.waitMs ?? 2_000 }));
  const intervalMs = o.intervalMs ?? 15_000;
  const m = o.metrics;
  const firstCheckAt = new Map<string, number>();
  const lastWithinAt = new Map<string, number>();
  let state: LifecycleState = 'idle';
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let lastProblem: string | null = null;

  function publish(list: CaptureStatus[], at: number): void {
    for (const c of list) {
      const labels = { stage: c.stage, pipeline: c.pipeline, connector: c.connector };
      const key = `${c.stage}/${c.pipeline}/${c.connector}`;
      if (!firstCheckAt.has(key)) firstCheckAt.set(key, at);
      m.captureRunning.set(labels, c.running ? 1 : 0);
      if (c.lagBytes === null) m.captureLagBytes.remove(labels);
      else m.captureLagBytes.set(labels, Number(c.lagBytes));
      if (c.running && withinLag(c)) lastWithinAt.set(key, at);
      const since = lastWithinAt.get(key) ?? firstCheckAt.get(key)!;
      m.captureBehindSeconds.set(labels, c.running && withinLag(c) ? 0 : (at - since) / 1000);
    }
    m.captureLastCheck.set(at / 1000);
  }

  async function checkOnce(): Promise<void> {
    const at = now();
    let list: CaptureStatus[];
    try {
      list = await check();
      if (lastProblem !== null) o.logger.info('capture check: Kafka Connect answers again');
      lastProblem = null;
    } catch (e) {
      const problem = e instanceof Error ? e.message : String(e);
      if (problem !== lastProblem) o.logger.warn({ err: e }, 'capture check failed: counting every connector as not running');
      lastProblem = problem;
      list = captures.map((c) => ({
        stage: c.stage,
        pipeline: c.pipeline,
        connector: c.spec.name,
        kind: c.spec.kind,
        topic: c.topic,
        state: 'UNKNOWN',
        tasks: [],
        running: false,
        maxLagBytes: c.capture.maxLagBytes,
        trace: null,
        databasePosition: null,
        connectorPosition: null,
        lagBytes: null,
        caughtUp: false,
        unconfirmedBytes: null,
        slotActive: null,
        problem,
      }));
    }
    if (state === 'running' || state === 'starting') publish(list, at);
  }

  function schedule(): void {
    timer = setTimeout(() => {
      inFlight = checkOnce().finally(() => {
        inFlight = null;
        if (state === 'running') schedule();
      });
    }, intervalMs);
    timer.unref();
  }

  return {
    get state() {
      return state;
    },
    failure: null,
    checkNow: () => checkOnce(),
    async start() {
      state = 'starting';
      // The first figures are there before the bridge reports itself started; a slow Connect does
      // not hold the start up for longer than one check.
      inFlight = checkOnce().finally(() => (inFlight = null));
      await inFlight;
      if (state !== 'starting') return;
      state = 'running';
      schedule();
    },
    async stop() {
      state = 'stopping';
      if (timer) clearTimeout(timer);
      await inFlight;
      state = 'stopped';
    },
  };
}
