import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { DbConnection } from '../db/connection.js';
import { openDb } from '../db/open.js';
import { signednessOf, type Config, type TargetConfig } from '../ops/config.js';
import { isUlbridgeError, UlbridgeError, wrapError } from '../ops/errors.js';
import { mysqlStoredPositions } from '../project/mysqlState.js';
import { ident } from '../project/stateSchema.js';
import { readPushState, type PushNodeRow } from '../push/pushState.js';
import { runVerify } from '../verify/verify.js';
import { captureStatuses, type CaptureStatus } from '../connect/connect.js';
import { configCaptures, connectUrlOf } from '../connect/fromConfig.js';
import {
  decideReadiness,
  partitionLag,
  type DeadLetterStatus,
  type IngestPartition,
  type IngestStatus,
  type ReverseStatus,
  type ProjectStatus,
  type PushStatus,
  type StatusReport,
  type VerifySummary,
} from './statusVerdict.js';

/**
 * `ulbridge status`: where every stage of a config stands, read from the outside (Kafka admin
 * API and the targets' state schemas), so it works whether or not a bridge process is running.
 *   ingest:  the CDC topic's high watermarks vs the ingest group's committed offsets;
 *   project: the log topic's high watermarks vs `offsets` in the target's state schema (the
 *            position the projection resumes from; Kafka's offsets of that group are informational);
 *   dead letters: high - low watermark of the dead-letter topic (or the part written since a time);
 *   verify:  runVerify on every target with its release and hash_size.
 * Positions are read before high watermarks, so a lag of 0 is never reported for events that
 * arrived during the check.
 */

export interface StatusOptions {
  config: Config;
  /** Only dead letters written at or after this time (unix ms) count for the verdict; null = all. */
  deadLettersSinceMs: number | null;
  /** Rows per verify cursor fetch. */
  verifyBatchSize?: number;
  /** Unix ms of the check (tests). */
  nowMs?: number;
  /** Kafka Connect URL for the capture stage (default: connect.url of the config). */
  connectUrl?: string;
  /** How long a connector short of its database's position is re-read (default 10 s). */
  captureWaitMs?: number;
}

type Watermarks = Map<number, { low: string; high: string }>;

function kafkaError(cfg: Config, e: unknown): UlbridgeError {
  if (isUlbridgeError(e)) return e;
  return wrapError('KAFKA_UNREACHABLE', `cannot query Kafka at ${cfg.kafka.brokers.join(',')} (is it up? check kafka.brokers)`, e);
}

async function watermarks(admin: Admin, topic: string): Promise<Watermarks> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, { low: o.low, high: o.high }]));
}

/** A consumer group's committed offsets on a topic against its watermarks. */
async function groupLag(admin: Admin, topic: string, groupId: string): Promise<{ lag: number; partitions: IngestPartition[] }> {
  const fetched = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = new Map((fetched[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
  const marks = await watermarks(admin, topic);
  const partitions = [...marks.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([partition, m]) => {
      const c = committed.get(partition);
      const next = c === undefined || BigInt(c) < 0n ? null : c;
      return { partition, low: m.low, high: m.high, committed: next, lag: partitionLag(m.low, m.high, next) };
    });
  return { lag: partitions.reduce((n, p) => n + p.lag, 0), partitions };
}

async function ingestStatus(admin: Admin, cfg: Config): Promise<IngestStatus[]> {
  const out: IngestStatus[] = [];
  for (const s of cfg.sources) {
    const groupId = s.groupId;
    out.push({ source: s.name, topic: s.topic, groupId, ...(await groupLag(admin, s.topic, groupId)) });
  }
  return out;
}

async function reverseStatus(admin: Admin, cfg: Config): Promise<ReverseStatus[]> {
  const out: ReverseStatus[] = [];
  for (const r of cfg.reverse) {
    const groupId = r.groupId;
    out.push({ reverse: r.name, target: r.target, topic: r.topic, groupId, ...(await groupLag(admin, r.topic, groupId)) });
  }
  return out;
}

/** Re-words the db layer's "--db" hints for a config key. */
function forTarget(e: unknown, index: number): unknown {
  if (!isUlbridgeError(e)) return e;
  return new UlbridgeError(
    e.code,
    `targets[${index}]: ${e.message.replace(/--db\b/g, `targets[${index}].db`).replace(/--table\b/g, `targets[${index}].table`)}`,
    e.exitCode,
    { cause: e },
  );
}

interface StoredPositions {
  started: boolean;
  next: Map<number, string>;
  lastAppliedMs: number | null;
}

async function storedPositions(db: DbConnection, schema: string, topic: string): Promise<StoredPositions> {
  if (db.dialect.name === 'mysql') return mysqlStoredPositions(db, schema, topic);
  const [exists] = await db.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${ident(schema)}.offsets`]);
  if (!exists?.ok) return { started: false, next: new Map(), lastAppliedMs: null };
  const rows = await db.query<{ partition: number; n: string; t: number | null }>(
    `SELECT partition, next_offset::text AS n, (extract(epoch FROM updated_at) * 1000)::float8 AS t FROM ${ident(schema)}.offsets WHERE topic = $1`,
    [topic],
  );
  let last: number | null = null;
  for (const r of rows) if (r.t !== null && (last === null || r.t > last)) last = r.t;
  return { started: true, next: new Map(rows.map((r) => [r.partition, r.n])), lastAppliedMs: last === null ? null : Math.round(last) };
}

async function verifySummary(t: TargetConfig, nowS: number, batchSize: number): Promise<VerifySummary> {
  const r = await runVerify({
    db: t.db,
    table: t.table,
    release: t.release,
    hashSize: t.hashSize,
    useDomain: t.useDomain,
    signedness: signednessOf(t),
    timezone: t.timeZone,
    now: nowS,
    details: 0,
    batchSize,
  });
  return {
    clean: r.clean,
    findings: r.findings,
    rowsRead: r.rowsRead,
    rejected: r.rejected.total,
    ambiguousRecordLabels: r.ambiguousRecordLabels.labels,
    duplicateContactIds: r.duplicateContactIds.ids,
    tableVersionOk: r.tableVersion.ok,
    expired: r.expired,
  };
}

async function projectStatus(admin: Admin, cfg: Config, o: StatusOptions, nowMs: number): Promise<ProjectStatus[]> {
  const out: ProjectStatus[] = [];
  for (const [index, t] of cfg.targets.entries()) {
    const stateSchema = t.stateSchema;
    let stored: StoredPositions;
    let push: PushStatus | undefined;
    let db: DbConnection | null = null;
    try {
      db = await openDb(t.db);
      stored = await storedPositions(db, stateSchema, cfg.log.topic);
      if (t.cluster) push = pushStatus(await readPushState(db, stateSchema), nowMs);
    } catch (e) {
      throw forTarget(e, index);
    } finally {
      await db?.close().catch(() => undefined);
    }
    let marks: Watermarks;
    try {
      marks = await watermarks(admin, cfg.log.topic);
    } catch (e) {
      throw kafkaError(cfg, e);
    }
    const partitions = [...marks.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([partition, m]) => {
        const next = stored.next.get(partition) ?? null;
        return { partition, low: m.low, high: m.high, next, lag: partitionLag(m.low, m.high, next) };
      });
    let verify: VerifySummary;
    try {
      verify = await verifySummary(t, Math.floor(nowMs / 1000), o.verifyBatchSize ?? 10_000);
    } catch (e) {
      throw forTarget(e, index);
    }
    out.push({
      target: t.name,
      db: t.db.replace(/(\/\/[^:/?#@\s]*:)[^@/\s]*@/g, '$1***@'),
      table: t.table,
      release: t.release,
      hashSize: t.hashSize,
      topic: cfg.log.topic,
      stateSchema,
      started: stored.started,
      lag: partitions.reduce((n, p) => n + p.lag, 0),
      partitions,
      lastAppliedAt: stored.lastAppliedMs === null ? null : new Date(stored.lastAppliedMs).toISOString(),
      lastAppliedAgeSeconds: stored.lastAppliedMs === null ? null : Math.max(0, Math.round((nowMs - stored.lastAppliedMs) / 1000)),
      verify,
      ...(push ? { push } : {}),
    });
  }
  return out;
}

function pushStatus(rows: PushNodeRow[] | null, nowMs: number): PushStatus {
  const updated = rows && rows.length > 0 ? Math.max(...rows.map((r) => r.updatedAtMs)) : null;
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    stateAgeSeconds: updated === null ? null : Math.max(0, Math.round((nowMs - updated) / 1000)),
    nodes: (rows ?? []).map((r) => ({
      nodeId: r.nodeId,
      url: r.url,
      up: r.up,
      replaying: r.replaying,
      since: iso(r.sinceMs),
      lastPushAt: r.pushedAtMs === null ? null : iso(r.pushedAtMs),
      latencyMs: r.latencyMs,
    })),
  };
}

async function deadLetterStatus(admin: Admin, cfg: Config, sinceMs: number | null): Promise<DeadLetterStatus> {
  const topic = cfg.log.deadLetterTopic;
  const marks = await watermarks(admin, topic);
  let total = 0;
  for (const m of marks.values()) total += Number(BigInt(m.high) - BigInt(m.low));
  let counted = total;
  if (sinceMs !== null) {
    // First offset whose timestamp is >= since, per partition (the high watermark when none is).
    const from = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
    counted = 0;
    for (const f of from) {
      const m = marks.get(f.partition);
      if (!m) continue;
      const start = BigInt(f.offset) < BigInt(m.low) ? BigInt(m.low) : BigInt(f.offset);
      if (BigInt(m.high) > start) counted += Number(BigInt(m.high) - start);
    }
  }
  return { topic, total, since: sinceMs === null ? null : new Date(sinceMs).toISOString(), counted };
}

export async function runStatus(o: StatusOptions): Promise<StatusReport> {
  const cfg = o.config;
  const nowMs = o.nowMs ?? Date.now();
  const kafka = new Kafka({
    clientId: `${cfg.kafka.clientId}-status`,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 3, initialRetryTime: 200 },
  });
  // The capture stage (Debezium) runs alongside: it may re-read a connector for a few seconds.
  const captures = configCaptures(cfg);
  const capturePromise: Promise<CaptureStatus[]> =
    captures.length === 0
      ? Promise.resolve([])
      : captureStatuses(cfg, connectUrlOf(cfg, o.connectUrl), { waitMs: o.captureWaitMs ?? 10_000 });
  capturePromise.catch(() => undefined);
  const admin = kafka.admin();
  try {
    try {
      await admin.connect();
    } catch (e) {
      throw kafkaError(cfg, e);
    }
    let topics: Set<string>;
    try {
      topics = new Set(await admin.listTopics());
    } catch (e) {
      throw kafkaError(cfg, e);
    }
    const needed: Array<[string, string]> = cfg.sources.map((s, i) => [
      s.topic,
      `sources[${i}].topic (the Debezium change topic: is the connector running?)`,
    ]);
    cfg.reverse.forEach((r, i) =>
      needed.push([
        r.topic,
        `reverse[${i}].topic (the Debezium change topic of the target table: is its connector running and has anything written the table?)`,
      ]),
    );
    needed.push([cfg.log.topic, 'log.topic (ulbridge run creates it: start it once with this config)']);
    needed.push([cfg.log.deadLetterTopic, 'log.deadLetterTopic (ulbridge run creates it: start it once with this config)']);
    for (const [topic, key] of needed) {
      if (!topics.has(topic))
        throw new UlbridgeError('TOPIC_MISSING', `topic "${topic}" does not exist on ${cfg.kafka.brokers.join(',')}: check ${key}`);
    }
    let ingest: IngestStatus[];
    let reverse: ReverseStatus[];
    try {
      ingest = await ingestStatus(admin, cfg);
      reverse = await reverseStatus(admin, cfg);
    } catch (e) {
      throw kafkaError(cfg, e);
    }
    const project = await projectStatus(admin, cfg, o, nowMs);
    let deadLetters: DeadLetterStatus;
    try {
      deadLetters = await deadLetterStatus(admin, cfg, o.deadLettersSinceMs);
    } catch (e) {
      throw kafkaError(cfg, e);
    }
    const capture = await capturePromise;
    const reasons = decideReadiness(ingest, project, deadLetters, reverse, capture);
    const notes: string[] = [];
    if (cfg.sources.length === 0)
      notes.push('the config has no sources: ingest lag is not checked (run status with the config of the ingest too)');
    if (cfg.targets.length === 0) notes.push('the config has no targets: projection lag and verify are not checked');
    cfg.sources.forEach((s, i) => {
      if (!s.capture)
        notes.push(
          `sources[${i}] (${s.name}) has no capture: its Debezium connector's state and lag are not checked (add sources[${i}].capture and connect.url)`,
        );
    });
    cfg.reverse.forEach((r, i) => {
      if (!r.capture)
        notes.push(
          `reverse[${i}] (${r.name}) has no capture: the target table's Debezium connector is not checked (add reverse[${i}].capture)`,
        );
    });
    return {
      ready: reasons.length === 0,
      reasons,
      notes,
      checkedAt: new Date(nowMs).toISOString(),
      ingest,
      project,
      reverse,
      deadLetters,
      capture,
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
