/**
 * The pure part of `ulbridge status`: lag arithmetic, the cut-over readiness verdict and its
 * reasons, and the human rendering. Offsets are decimal strings (64-bit); lags and counts are JSON
 * numbers (message counts, far below 2^53).
 */
import type { CaptureStatus } from '../connect/connect.js';

export type { CaptureStatus };

export interface IngestPartition {
  partition: number;
  low: string;
  high: string;
  /** The ingest group's committed offset (next to read); null when the group never committed. */
  committed: string | null;
  lag: number;
}

export interface IngestStatus {
  source: string;
  topic: string;
  groupId: string;
  lag: number;
  partitions: IngestPartition[];
}

export interface ProjectPartition {
  partition: number;
  low: string;
  high: string;
  /** next_offset from the target's state schema (authoritative); null when nothing was applied yet. */
  next: string | null;
  lag: number;
}

export interface VerifySummary {
  clean: boolean;
  findings: number;
  rowsRead: number;
  rejected: number;
  ambiguousRecordLabels: number;
  duplicateContactIds: number;
  tableVersionOk: boolean;
  expired: number;
}

export interface ProjectStatus {
  target: string;
  db: string;
  table: string;
  release: string;
  hashSize: number;
  topic: string;
  stateSchema: string;
  /** false when the state schema does not exist: the projection never started. */
  started: boolean;
  lag: number;
  partitions: ProjectPartition[];
  /** When the projection last committed a batch (max offsets.updated_at), ISO 8601; null if never. */
  lastAppliedAt: string | null;
  lastAppliedAgeSeconds: number | null;
  verify: VerifySummary;
  /** Targets with a registrar cluster (targets[].cluster): what the running bridge last recorded of each node. */
  push?: PushStatus;
}

/** The cluster push of one target, from push_nodes in its state schema (written every 2 s by ulbridge run). */
export interface PushStatus {
  /** Seconds since the bridge last recorded the nodes' state; null when it never did. */
  stateAgeSeconds: number | null;
  nodes: PushNode[];
}

export interface PushNode {
  nodeId: number;
  url: string;
  up: boolean;
  replaying: boolean;
  /** The last up/down transition, ISO 8601. */
  since: string;
  /** When changes last went to the node, ISO 8601; null if none yet. */
  lastPushAt: string | null;
  /** From the source commit of those changes to their packets written to the node, ms. */
  latencyMs: number | null;
}

/** A bridge that has not recorded its push state for this long is not running (it records every 2 s). */
export const PUSH_STATE_MAX_AGE_SECONDS = 10;

export interface DeadLetterStatus {
  topic: string;
  /** Messages in the topic: sum over partitions of high - low watermark. */
  total: number;
  /** --dead-letters-since as ISO 8601, or null (every retained letter counts). */
  since: string | null;
  /** Letters that count for the verdict: written at or after `since`, or all of them. */
  counted: number;
}

export interface Reason {
  code:
    | 'CAPTURE_NOT_RUNNING'
    | 'CAPTURE_LAG'
    | 'INGEST_LAG'
    | 'REVERSE_LAG'
    | 'PROJECT_NOT_STARTED'
    | 'PROJECT_LAG'
    | 'PROJECT_LOG_GAP'
    | 'DEAD_LETTERS'
    | 'VERIFY_FINDINGS'
    | 'PUSH_NOT_RUNNING'
    | 'PUSH_NODE_DOWN'
    | 'PUSH_REPLAYING';
  message: string;
}

/** Reverse sync: the target table's CDC topic vs the reverse group's committed offsets. */
export interface ReverseStatus {
  reverse: string;
  target: string;
  topic: string;
  groupId: string;
  lag: number;
  partitions: IngestPartition[];
}

export interface StatusReport {
  ready: boolean;
  reasons: Reason[];
  /** Things the verdict could not see (e.g. a config without sources). */
  notes: string[];
  checkedAt: string;
  ingest: IngestStatus[];
  project: ProjectStatus[];
  reverse: ReverseStatus[];
  deadLetters: DeadLetterStatus;
  /**
   * Debezium (database -> CDC topic), one entry per sources[].capture and reverse[].capture:
   * connector and task states from Kafka Connect and the bytes the connector is behind its
   * database (decimal strings). Absent only in documents built without it.
   */
  capture?: CaptureStatus[];
}

/**
 * Messages not yet consumed: high - max(next, low). A group that never committed (next null)
 * starts from the beginning, so everything still retained is pending. A committed offset below the
 * low watermark (retention or compaction removed what it pointed at) counts from low.
 */
export function partitionLag(low: string, high: string, next: string | null): number {
  const lo = BigInt(low);
  const hi = BigInt(high);
  const from = next === null || BigInt(next) < lo ? lo : BigInt(next);
  return hi > from ? Number(hi - from) : 0;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function lagParts(parts: Array<{ partition: number; lag: number }>): string {
  return parts
    .filter((p) => p.lag > 0)
    .map((p) => `partition ${p.partition}: ${p.lag}`)
    .join(', ');
}

/**
 * Ready for cut-over when, for everything the config names:
 *  - every ingest partition has lag 0 (the CDC topic is fully ingested);
 *  - every projection has started and every log partition has lag 0 against the offsets stored in
 *    the target (the authoritative position: the projection never stores an offset it did not
 *    reach by applying the partition from its start);
 *  - no partition's stored offset (0 when none is stored) lies below the log's low watermark: the
 *    events in between were removed from the log before this target applied them;
 *  - no dead letters (all retained ones, or those written at or after --dead-letters-since);
 *  - every target verifies clean for its release and hash_size.
 */
export function decideReadiness(
  ingest: IngestStatus[],
  project: ProjectStatus[],
  dead: DeadLetterStatus,
  reverse: ReverseStatus[] = [],
  capture: CaptureStatus[] = [],
): Reason[] {
  const reasons: Reason[] = captureReasons(capture);
  for (const r of reverse) {
    if (r.lag > 0) {
      reasons.push({
        code: 'REVERSE_LAG',
        message: `reverse ${r.reverse}: ${plural(r.lag, 'change event')} of target ${r.target}'s ${r.topic} not yet copied to the legacy table by group ${r.groupId} (${lagParts(r.partitions)})`,
      });
    }
  }
  for (const i of ingest) {
    if (i.lag > 0) {
      reasons.push({
        code: 'INGEST_LAG',
        message: `source ${i.source}: ${plural(i.lag, 'change event')} of ${i.topic} not yet ingested by group ${i.groupId} (${lagParts(i.partitions)})`,
      });
    }
  }
  for (const p of project) {
    if (!p.started) {
      reasons.push({
        code: 'PROJECT_NOT_STARTED',
        message: `target ${p.target}: no state schema ${p.stateSchema} in its database: the projection never ran; start ulbridge run with this config`,
      });
    } else {
      const gaps = p.partitions.filter((x) => BigInt(x.next ?? '0') < BigInt(x.low));
      if (gaps.length > 0) {
        reasons.push({
          code: 'PROJECT_LOG_GAP',
          message: `target ${p.target}: the log no longer holds what this target has not applied (${gaps.map((x) => `partition ${x.partition}: stored ${x.next ?? 'nothing'}, log starts at ${x.low}`).join(', ')}); it cannot be proven complete: rebuild it from a complete log`,
        });
      }
      if (p.lag > 0) {
        reasons.push({
          code: 'PROJECT_LAG',
          message: `target ${p.target}: ${plural(p.lag, 'log event')} of ${p.topic} not yet applied (${lagParts(p.partitions)})`,
        });
      }
    }
    if (!p.verify.clean) {
      const v = p.verify;
      const what: string[] = [];
      if (!v.tableVersionOk) what.push('wrong table version');
      if (v.rejected) what.push(`${plural(v.rejected, 'row')} rejected by preload`);
      if (v.duplicateContactIds) what.push(`${plural(v.duplicateContactIds, 'duplicate contact id')}`);
      if (v.ambiguousRecordLabels) what.push(`${plural(v.ambiguousRecordLabels, 'ambiguous record label')}`);
      if (what.length === 0) what.push(plural(v.findings, 'finding'));
      reasons.push({
        code: 'VERIFY_FINDINGS',
        message: `target ${p.target}: verify of ${p.table} as OpenSIPS ${p.release} with hash_size ${p.hashSize} is not clean: ${what.join(', ')} (run ulbridge verify --details 10 for the rows)`,
      });
    }
  }
  for (const p of project) if (p.push) reasons.push(...pushReasons(p.target, p.push));
  if (dead.counted > 0) {
    const since = dead.since ? ` since ${dead.since}` : '';
    reasons.push({
      code: 'DEAD_LETTERS',
      message: `${plural(dead.counted, 'dead letter')} in ${dead.topic}${since}: review them (each names its reason and source offset), fix the source row or the config, then pass --dead-letters-since with the time of the review`,
    });
  }
  return reasons;
}

/** Every registrar node of the cluster up, holding the table (replay done), as recorded moments ago. */
export function pushReasons(target: string, push: PushStatus): Reason[] {
  if (push.stateAgeSeconds === null || push.stateAgeSeconds > PUSH_STATE_MAX_AGE_SECONDS) {
    const when = push.stateAgeSeconds === null ? 'has never recorded its state' : `last recorded its state ${push.stateAgeSeconds}s ago`;
    return [
      {
        code: 'PUSH_NOT_RUNNING',
        message: `target ${target}: the cluster push ${when}: the registrars' memory is not kept in step; start ulbridge run with this config`,
      },
    ];
  }
  const reasons: Reason[] = [];
  for (const n of push.nodes) {
    if (!n.up) {
      reasons.push({
        code: 'PUSH_NODE_DOWN',
        message: `target ${target}: registrar node ${n.nodeId} (${n.url}) is down since ${n.since}: is it running, with ulbridge in its clusterer neighbours (docs/cluster-push.md)? It gets the whole table when it is back`,
      });
    } else if (n.replaying) {
      reasons.push({
        code: 'PUSH_REPLAYING',
        message: `target ${target}: registrar node ${n.nodeId} (${n.url}) came up at ${n.since} and is still being sent the table`,
      });
    }
  }
  return reasons;
}

const captureName = (c: CaptureStatus): string => `${c.stage === 'source' ? 'source' : 'reverse'} ${c.pipeline}: connector ${c.connector}`;

/**
 * The capture stage: every connector and task RUNNING (a PostgreSQL slot in use by a walsender),
 * and the connector at most capture.maxLagBytes behind the position its database had when the
 * check started (unknown lag is not ready either).
 */
export function captureReasons(capture: CaptureStatus[]): Reason[] {
  const reasons: Reason[] = [];
  for (const c of capture) {
    if (!c.running) {
      const tasks = c.tasks.length === 0 ? 'no tasks' : `tasks ${c.tasks.map((t) => `${t.id}:${t.state}`).join(', ')}`;
      const why =
        c.state === 'MISSING'
          ? 'does not exist in Kafka Connect (run ulbridge connect apply)'
          : c.state === 'RUNNING' && c.tasks.length > 0 && c.tasks.every((t) => t.state === 'RUNNING')
            ? `is RUNNING but ${c.problem ?? 'not streaming'}`
            : `is ${c.state} (${tasks})${c.trace ? `: ${c.trace}` : ''}; see the Connect worker's log, then restart it (POST /connectors/${c.connector}/restart?includeTasks=true)`;
      reasons.push({ code: 'CAPTURE_NOT_RUNNING', message: `${captureName(c)} ${why}` });
      continue;
    }
    if (c.lagBytes === null) {
      reasons.push({ code: 'CAPTURE_LAG', message: `${captureName(c)}: lag unknown: ${c.problem ?? 'no position'}` });
    } else if (BigInt(c.lagBytes) > BigInt(c.maxLagBytes)) {
      const unit = c.kind === 'postgres' ? 'WAL' : 'binlog';
      reasons.push({
        code: 'CAPTURE_LAG',
        message: `${captureName(c)} is ${c.lagBytes} bytes of ${unit} behind the database (${c.connectorPosition ?? '?'} vs ${c.databasePosition ?? '?'}${c.maxLagBytes > 0 ? `; at most ${c.maxLagBytes} allowed` : ''}): changes are not yet in ${c.topic}`,
      });
    }
  }
  return reasons;
}

// ---------------------------------------------------------------------------------------------
// Human rendering

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `  ${cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}`;
  return [line(header), ...rows.map(line)];
}

function age(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

/** A titled table of consumer-group lag per partition (ingest, reverse); nothing when empty. */
function groupLagTable(
  title: string,
  nameHeader: string,
  groups: Array<{ name: string; topic: string; partitions: IngestPartition[] }>,
): string[] {
  if (groups.length === 0) return [];
  return [
    '',
    title,
    ...table(
      [nameHeader, 'TOPIC', 'PARTITION', 'HIGH', 'COMMITTED', 'LAG'],
      groups.flatMap((g) => g.partitions.map((p) => [g.name, g.topic, String(p.partition), p.high, p.committed ?? '-', String(p.lag)])),
    ),
  ];
}

export function renderStatusHuman(r: StatusReport): string {
  const out: string[] = [];
  out.push(`ulbridge status: ${r.ready ? 'READY for cut-over' : 'NOT READY for cut-over'} (checked ${r.checkedAt})`);
  for (const reason of r.reasons) out.push(`  - ${reason.code}: ${reason.message}`);
  for (const note of r.notes) out.push(`  note: ${note}`);
  if (r.capture && r.capture.length > 0) {
    out.push('');
    out.push('capture (database -> CDC topic: Debezium connectors in Kafka Connect; lag in bytes behind the database at the check)');
    out.push(
      ...table(
        ['CAPTURE', 'CONNECTOR', 'STATE', 'TASKS', 'DB POSITION', 'CONNECTOR POSITION', 'LAG BYTES'],
        r.capture.map((c) => [
          `${c.stage} ${c.pipeline}`,
          c.connector,
          c.state,
          c.tasks.map((t) => `${t.id}:${t.state}`).join(',') || '-',
          c.databasePosition ?? '-',
          c.connectorPosition ?? '-',
          c.lagBytes ?? '-',
        ]),
      ),
    );
  }
  out.push(
    ...groupLagTable(
      'ingest (CDC topic -> registration log)',
      'SOURCE',
      r.ingest.map((i) => ({ name: i.source, topic: i.topic, partitions: i.partitions })),
    ),
  );
  if (r.project.length > 0) {
    out.push('');
    out.push('project (registration log -> target table; positions from the target state schema)');
    out.push(
      ...table(
        ['TARGET', 'PARTITION', 'HIGH', 'NEXT', 'LAG', 'LAST APPLIED'],
        r.project.flatMap((t) =>
          t.started
            ? t.partitions.map((p) => [t.target, String(p.partition), p.high, p.next ?? '-', String(p.lag), age(t.lastAppliedAgeSeconds)])
            : [[t.target, '-', '-', '-', String(t.lag), 'not started']],
        ),
      ),
    );
    out.push('');
    out.push('verify (each target as its registrar would preload it)');
    out.push(
      ...table(
        ['TARGET', 'TABLE', 'RELEASE', 'HASH_SIZE', 'ROWS', 'REJECTED', 'AMBIGUOUS', 'DUP IDS', 'RESULT'],
        r.project.map((t) => [
          t.target,
          t.table,
          t.release,
          String(t.hashSize),
          String(t.verify.rowsRead),
          String(t.verify.rejected),
          String(t.verify.ambiguousRecordLabels),
          String(t.verify.duplicateContactIds),
          t.verify.clean ? 'clean' : `${plural(t.verify.findings, 'finding')}`,
        ]),
      ),
    );
  }
  const pushed = r.project.filter((t) => t.push);
  if (pushed.length > 0) {
    out.push('');
    out.push("push (target table -> registrars' memory: usrloc cluster replication; latency from the source commit)");
    out.push(
      ...table(
        ['TARGET', 'NODE', 'URL', 'STATE', 'SINCE', 'LAST PUSH', 'LATENCY'],
        pushed.flatMap((t) =>
          t.push!.nodes.length === 0
            ? [[t.target, '-', '-', 'never ran', '-', '-', '-']]
            : t.push!.nodes.map((n) => [
                t.target,
                String(n.nodeId),
                n.url,
                !n.up ? 'down' : n.replaying ? 'replaying' : 'up',
                n.since,
                n.lastPushAt ?? 'never',
                n.latencyMs === null ? '-' : `${n.latencyMs} ms`,
              ]),
        ),
      ),
    );
  }
  out.push(
    ...groupLagTable(
      'reverse (target table CDC topic -> legacy table)',
      'REVERSE',
      r.reverse.map((x) => ({ name: x.reverse, topic: x.topic, partitions: x.partitions })),
    ),
  );
  out.push('');
  const d = r.deadLetters;
  out.push(`dead letters: ${d.total} in ${d.topic}${d.since ? `, ${d.counted} since ${d.since}` : ''}`);
  return out.join('\n');
}
