import type { Admin, Kafka } from 'kafkajs';
import { isSharedTarget, signednessOf, type Config } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { Lifecycle, type LifecycleState } from '../ops/lifecycle.js';
import { createIngestThread } from '../ingest/thread.js';
import { ensureTopics } from '../log/topics.js';
import { createProjection } from '../project/projection.js';
import { ClusterPush } from '../push/clusterPush.js';
import { createTargetStore } from '../project/openTargetStore.js';
import { compileTarget, type Target } from '../project/target.js';
import { createReverse } from '../reverse/reverse.js';
import { openReverseTargetStore } from '../reverse/target.js';
import { createKafka } from './kafka.js';
import { startHttpServer } from './http.js';
import { createCaptureMonitor } from './captureMonitor.js';
import { isUlbridgeError, UlbridgeError, wrapError } from '../ops/errors.js';

export type BridgeState = LifecycleState;

export interface Bridge {
  readonly state: BridgeState;
  readonly metrics: Metrics;
  /** URL of the /metrics, /healthz, /readyz server (null when http.port is -1 or before start). */
  readonly httpUrl: string | null;
  /** Starts every component in order; rejects with a STOPPED error when stop() interrupted it. */
  start(): Promise<void>;
  /**
   * Valid in any state. Drains: aborts a start in progress, finishes and commits the batches in
   * flight, leaves the consumer groups, closes pools and the HTTP server.
   */
  stop(): Promise<void>;
}

interface Component {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  state(): LifecycleState;
  failed(): string | null;
}

export interface BridgeOptions {
  metrics?: Metrics;
  /** false: no HTTP server. */
  http?: boolean;
}

/**
 * The long-running service: one ingest per configured source (CDC topic -> registration log),
 * one projection per target (registration log -> location table) and one reverse sync per
 * reverse[] entry, in one process. Nothing is opened until start().
 */
export function createBridge(cfg: Config, logger: Logger, opts: BridgeOptions = {}): Bridge {
  const metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
  const lifecycle = new Lifecycle('the bridge', (what, err) => logger.error({ err, component: what }, 'stop failed'));
  // kafkajs's own error lines are noise while start-up still decides (one coded line says what failed).
  const kafka: Kafka = createKafka(cfg.kafka.brokers, cfg.kafka.clientId, logger, {
    quiet: () => lifecycle.state === 'starting' || lifecycle.stopRequested,
  });
  const components: Component[] = [];
  const started = new Set<string>();
  let httpUrl: string | null = null;

  const compiled = new Map<string, Target>();
  for (const t of cfg.targets) {
    const target = compileTarget({
      name: t.name,
      db: t.db,
      table: t.table,
      release: t.release,
      hashSize: t.hashSize,
      useDomain: t.useDomain,
      signedness: signednessOf(t),
      timeZone: t.timeZone,
      stateSchema: t.stateSchema,
      shared: isSharedTarget(cfg, t),
      push: t.cluster !== undefined,
    });
    compiled.set(t.name, target);
  }

  /**
   * Waits until a broker answers, at most kafka.connectTimeoutSeconds. Each try is one connection
   * attempt with no client retries (kafkajs's own retry schedule would take minutes and keep
   * retrying after we gave up), so a failure ends in seconds with nothing left open.
   */
  async function waitForKafka(): Promise<void> {
    const brokers = cfg.kafka.brokers.join(',');
    const deadline = Date.now() + cfg.kafka.connectTimeoutSeconds * 1000;
    const probe = createKafka(cfg.kafka.brokers, cfg.kafka.clientId, logger, { quiet: () => true, retries: 0 });
    for (;;) {
      const admin = probe.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        return;
      } catch (e) {
        if (Date.now() >= deadline) {
          throw new UlbridgeError(
            'KAFKA_UNREACHABLE',
            `no broker of ${brokers} answered within ${cfg.kafka.connectTimeoutSeconds} s: ${e instanceof Error ? e.message : String(e)} (is Kafka up? check kafka.brokers; kafka.connectTimeoutSeconds sets the wait)`,
          );
        }
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      await lifecycle.sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
    }
  }

  async function prepareTopics(): Promise<void> {
    await waitForKafka();
    const admin: Admin = kafka.admin();
    try {
      await admin.connect();
      const created = await ensureTopics(admin, {
        topic: cfg.log.topic,
        partitions: cfg.log.partitions,
        deadLetterTopic: cfg.log.deadLetterTopic,
      });
      if (created.created.length > 0) logger.info({ topics: created.created }, 'created topics');
    } catch (e) {
      if (isUlbridgeError(e)) throw e;
      throw wrapError('KAFKA_UNREACHABLE', `cannot prepare topics on ${cfg.kafka.brokers.join(',')} (is Kafka up? check kafka.brokers)`, e);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async function start(): Promise<void> {
    if (opts.http !== false) {
      const http = await startHttpServer(cfg.http.host, cfg.http.port, metrics, {
        healthy: () => lifecycle.state !== 'failed' && components.every((c) => c.failed() === null),
        ready: () => {
          const reasons = components.filter((c) => !started.has(c.name)).map((c) => `${c.name} not started`);
          for (const c of components) {
            const f = c.failed();
            if (f) reasons.push(`${c.name} failed: ${f}`);
          }
          if (lifecycle.state !== 'running') reasons.push(`bridge is ${lifecycle.state}`);
          return { ready: reasons.length === 0, reasons };
        },
      });
      // Closed last: /readyz answers "draining" while the components stop.
      lifecycle.hold('http server', () => http.close());
      httpUrl = http.url;
    }
    await prepareTopics();
    buildComponents();
    for (const c of components) {
      lifecycle.checkpoint();
      await c.start();
      started.add(c.name);
      logger.info({ component: c.name }, 'started');
    }
  }

  /** Projections first (an ingest may wait for its Debezium topic), reverse syncs last. */
  function buildComponents(): void {
    for (const t of cfg.targets) {
      const target = compiled.get(t.name)!;
      const store = createTargetStore(target, { poolSize: t.poolSize, logger });
      lifecycle.hold(`store:${t.name}`, () => store.close());
      const cluster = t.cluster;
      let push: ClusterPush | null = null;
      const projection = createProjection({
        kafka,
        store,
        target,
        logTopic: cfg.log.topic,
        logPartitions: cfg.log.partitions,
        deadLetterTopic: cfg.log.deadLetterTopic,
        groupId: t.groupId,
        sessionTimeoutSeconds: cfg.kafka.sessionTimeoutSeconds,
        concurrency: t.poolSize,
        logger,
        metrics,
        ...(cluster ? { afterCommit: (r) => push?.push(r.changes, r.sourceTimesMs) } : {}),
      });
      add(`project:${t.name}`, projection);
      // The registrars' cluster after the projection (which creates the state schema it records in);
      // commits before it starts need no push: a registrar gets the whole table when it comes up.
      if (cluster) {
        let state: LifecycleState = 'idle';
        add(`push:${t.name}`, {
          async start() {
            state = 'starting';
            push = await ClusterPush.start({ target, cluster, logger, metrics });
            state = 'running';
          },
          async stop() {
            state = 'stopping';
            await push?.stop();
            state = 'stopped';
          },
          get state() {
            return state;
          },
          failure: null,
        });
      }
    }
    for (const source of cfg.sources) {
      // In its own worker thread, with its own Kafka client: decoding and the projection's work use
      // both cores (src/ingest/thread.ts).
      const ingest = createIngestThread({
        brokers: cfg.kafka.brokers,
        clientId: cfg.kafka.clientId,
        source: {
          name: source.name,
          release: source.release,
          topic: source.topic,
          timeZone: source.timeZone,
          caseSensitive: source.caseSensitive,
        },
        log: cfg.log,
        groupId: source.groupId,
        sessionTimeoutSeconds: cfg.kafka.sessionTimeoutSeconds,
        logger,
        metrics,
      });
      add(`ingest:${source.name}`, {
        start: () => ingest.start(),
        stop: () => ingest.stop(),
        get state() {
          return ingest.status().state;
        },
        get failure() {
          return ingest.status().error;
        },
      });
    }
    // Reverse syncs last: each waits for its target's Debezium topic, which the projection's first
    // writes create.
    for (const r of cfg.reverse) {
      const target = compiled.get(r.target)!;
      const source = cfg.sources.find((x) => x.name === r.source)!;
      // PostgreSQL or MySQL/MariaDB, by the target's URL (src/reverse/target.ts).
      const targetStore = openReverseTargetStore(target, { name: r.name, logger });
      lifecycle.hold(`pool:reverse:${r.name}`, () => targetStore.close());
      const reverse = createReverse({
        name: r.name,
        kafka,
        topic: r.topic,
        target,
        targetStore,
        sourceName: source.name,
        legacy: r.legacy,
        groupId: r.groupId,
        sessionTimeoutSeconds: cfg.kafka.sessionTimeoutSeconds,
        deadLetterTopic: cfg.log.deadLetterTopic,
        logger,
        metrics,
      });
      add(`reverse:${r.name}`, reverse);
    }
    // The capture stage's figures as metrics (the check `ulbridge status` makes), when the config
    // names connectors and Kafka Connect.
    const capture = createCaptureMonitor({ cfg, metrics, logger });
    if (capture) add('capture', capture);
  }

  /** A component is stopped (drained) before the pools and stores it uses, which were held before it. */
  function add(
    name: string,
    stage: { start(): Promise<void>; stop(): Promise<void>; readonly state: LifecycleState; readonly failure: string | null },
  ): void {
    components.push({ name, start: () => stage.start(), stop: () => stage.stop(), state: () => stage.state, failed: () => stage.failure });
    lifecycle.hold(name, () => stage.stop());
  }

  return {
    get state() {
      return lifecycle.state;
    },
    metrics,
    get httpUrl() {
      return httpUrl;
    },
    start: () => lifecycle.start(start),
    async stop() {
      if (lifecycle.state === 'stopped' || lifecycle.state === 'idle') {
        await lifecycle.stop();
        return;
      }
      if (lifecycle.state !== 'failed') logger.info({ state: lifecycle.state }, 'draining');
      // A component in the middle of its start (waiting for a topic, joining a group) is aborted
      // by its own stop(); the bridge's start then unwinds and releases the rest.
      await Promise.all(components.filter((c) => c.state() === 'starting').map((c) => c.stop()));
      const failed = lifecycle.state === 'failed';
      await lifecycle.stop();
      if (!failed) logger.info('stopped');
    },
  };
}

/** createBridge + start: the bridge, running. */
export async function startBridge(cfg: Config, logger: Logger, opts: BridgeOptions = {}): Promise<Bridge> {
  const bridge = createBridge(cfg, logger, opts);
  await bridge.start();
  return bridge;
}
