import pg from 'pg';
import type { Kafka } from 'kafkajs';
import type { Config } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { createIngest, type Ingest } from '../ingest/index.js';
import { ensureTopics } from '../log/topics.js';
import { createProjection, type Projection } from '../project/projection.js';
import { createTargetStore, type TargetStore } from '../project/targetStore.js';
import { compileTarget, defaultStateSchema, type Target } from '../project/target.js';
import { createReverse } from '../reverse/reverse.js';
import type { ReleaseName } from '../opensips/releases.js';
import { createKafka } from './kafka.js';
import { startHttpServer } from './http.js';
import { wrapError } from '../ops/errors.js';

export type BridgeState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface Bridge {
  readonly state: BridgeState;
  readonly metrics: Metrics;
  /** URL of the /metrics, /healthz, /readyz server (null when http.port is -1). */
  readonly httpUrl: string | null;
  /** Drains: finishes and commits batches in flight, leaves the groups, closes pools. */
  stop(): Promise<void>;
}

interface Component {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  failed(): string | null;
}

/**
 * The long-running service: one ingest per configured source (CDC topic -> registration log)
 * and one projection per configured target (registration log -> location table), in one process.
 */
export async function startBridge(cfg: Config, logger: Logger, opts: { metrics?: Metrics; http?: boolean } = {}): Promise<Bridge> {
  const metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
  const kafka: Kafka = createKafka(cfg.kafka.brokers, cfg.kafka.clientId, logger);
  let state: BridgeState = 'starting';

  const admin = kafka.admin();
  try {
    await admin.connect();
    const created = await ensureTopics(admin, { topic: cfg.log.topic, partitions: cfg.log.partitions, deadLetterTopic: cfg.log.deadLetterTopic });
    if (created.created.length > 0) logger.info({ topics: created.created }, 'created topics');
  } catch (e) {
    throw wrapError('KAFKA_UNREACHABLE', `cannot prepare topics on ${cfg.kafka.brokers.join(',')} (is Kafka up? check kafka.brokers)`, e);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }

  const pools: pg.Pool[] = [];
  // One store (pool) per target, PostgreSQL or MySQL/MariaDB by the URL's scheme.
  const stores: TargetStore[] = [];
  // Projections first: an ingest may wait for its Debezium topic to appear.
  const components: Component[] = [];
  const compiled = new Map<string, Target>();
  for (const t of cfg.targets) {
    const target = compileTarget({
      name: t.name,
      db: t.db,
      table: t.table,
      release: t.release,
      hashSize: t.hashSize,
      useDomain: t.useDomain,
      signedness: t.unsignedChar ? 'unsigned' : 'signed',
      timeZone: t.timeZone,
      stateSchema: t.stateSchema ?? defaultStateSchema(t.name),
      shared: cfg.reverse.some((r) => r.target === t.name),
    });
    compiled.set(t.name, target);
    const store = createTargetStore(target, { poolSize: t.poolSize, logger });
    stores.push(store);
    const projection: Projection = createProjection({
      kafka,
      store,
      target,
      logTopic: cfg.log.topic,
      deadLetterTopic: cfg.log.deadLetterTopic,
      groupId: t.groupId ?? `ulbridge-project-${t.name}`,
      concurrency: t.poolSize,
      logger,
      metrics,
    });
    components.push({ name: `project:${t.name}`, start: () => projection.start(), stop: () => projection.stop(), failed: () => projection.failure });
  }

  for (const source of cfg.sources) {
    const ingest: Ingest = createIngest({
      kafka,
      source: { name: source.name, release: source.release as never, topic: source.topic, timeZone: source.timeZone, caseSensitive: source.caseSensitive },
      log: cfg.log,
      groupId: source.groupId ?? `ulbridge-ingest-${source.name}`,
      logger,
      metrics,
    });
    components.push({
      name: `ingest:${source.name}`,
      start: () => ingest.start(),
      stop: () => ingest.stop(),
      failed: () => (ingest.status().state === 'failed' ? (ingest.status().error ?? 'failed') : null),
    });
  }
  // Reverse syncs last: each waits for its target's Debezium topic, which the projection's first
  // writes create.
  for (const r of cfg.reverse) {
    const target = compiled.get(r.target)!;
    const source = cfg.sources.find((x) => x.name === r.source)!;
    const pool = new pg.Pool({ connectionString: target.db, max: 2, application_name: `ulbridge-reverse-${r.name}` });
    pool.on('error', (err) => logger.warn({ err, reverse: r.name }, 'idle PostgreSQL connection failed'));
    pools.push(pool);
    const reverse = createReverse({
      name: r.name,
      kafka,
      topic: r.topic,
      target,
      targetPool: pool,
      sourceName: source.name,
      legacy: { db: r.legacy.db, table: r.legacy.table, release: source.release as ReleaseName, timeZone: source.timeZone },
      groupId: r.groupId ?? `ulbridge-reverse-${r.name}`,
      deadLetterTopic: cfg.log.deadLetterTopic,
      logger,
      metrics,
    });
    components.push({ name: `reverse:${r.name}`, start: () => reverse.start(), stop: () => reverse.stop(), failed: () => reverse.failure });
  }

  const started = new Set<string>();
  const http =
    opts.http === false
      ? null
      : await startHttpServer(cfg.http.host, cfg.http.port, metrics, {
          healthy: () => state !== 'failed' && components.every((c) => c.failed() === null),
          ready: () => {
            const reasons = components.filter((c) => !started.has(c.name)).map((c) => `${c.name} not started`);
            for (const c of components) {
              const f = c.failed();
              if (f) reasons.push(`${c.name} failed: ${f}`);
            }
            if (state !== 'running') reasons.push(`bridge is ${state}`);
            return { ready: reasons.length === 0, reasons };
          },
        });

  const stopAll = async (): Promise<void> => {
    for (const c of [...components].reverse()) {
      await c.stop().catch((err: unknown) => logger.error({ err, component: c.name }, 'stop failed'));
    }
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await http?.close();
  };

  try {
    for (const c of components) {
      await c.start();
      started.add(c.name);
      logger.info({ component: c.name }, 'started');
    }
  } catch (e) {
    state = 'failed';
    await stopAll();
    throw e;
  }
  state = 'running';

  return {
    get state() {
      return state;
    },
    metrics,
    httpUrl: http?.url ?? null,
    async stop() {
      if (state === 'stopped' || state === 'draining') return;
      state = 'draining';
      logger.info('draining');
      await stopAll();
      state = 'stopped';
      logger.info('stopped');
    },
  };
}
