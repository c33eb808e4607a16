/**
 * `ulbridge connect plan|apply|status`: the Debezium connectors a bridge config needs, derived
 * from it (./fromConfig.ts), created or updated idempotently, and watched.
 */
import pg from 'pg';
import type { Config } from '../ops/config.js';
import { isUlbridgeError, UlbridgeError } from '../ops/errors.js';
import { columnTypes } from '../db/inspect.js';
import { openDb } from '../db/open.js';
import { parseTableName } from '../db/table.js';
import { redactUrl } from '../db/url.js';
import { DATETIME_COLUMNS, schemalessUnitProblem } from './columnUnits.js';
import { hasValueSchemas, pgTable } from './derive.js';
import { captureConnectorConfig, configCaptures, planConnectors, type Capture } from './fromConfig.js';
import { captureLag, type CaptureLag } from './lag.js';
import { ConnectClient, type ConnectorState } from './rest.js';
import { ulbridgeUrl } from './secrets.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { planConnectors };

/** One connector as `connect status` and the capture stage of `ulbridge status` show it. */
export interface CaptureStatus extends CaptureLag {
  /** `source` (a sources[] entry's legacy table) or `reverse` (a reverse[] entry's target table). */
  stage: 'source' | 'reverse';
  /** The sources[] or reverse[] entry's name. */
  pipeline: string;
  connector: string;
  kind: string;
  topic: string;
  /** The connector's state in Kafka Connect (RUNNING, PAUSED, FAILED, UNASSIGNED, ...), or MISSING. */
  state: string;
  tasks: Array<{ id: number; state: string; workerId: string | null }>;
  /** The connector and every task RUNNING (and, on PostgreSQL, its slot in use). */
  running: boolean;
  /** capture.maxLagBytes. */
  maxLagBytes: number;
  /** First line of a FAILED connector's or task's trace. */
  trace: string | null;
}

function taskList(s: ConnectorState | null): CaptureStatus['tasks'] {
  return (s?.tasks ?? []).map((t) => ({ id: t.id, state: t.state, workerId: t.worker_id ?? null }));
}

function firstTrace(s: ConnectorState | null): string | null {
  const trace = s?.connector.state === 'FAILED' ? s.connector.trace : s?.tasks.find((t) => t.state === 'FAILED')?.trace;
  return trace ? redactUrl(trace.split('\n')[0]!.slice(0, 300)) : null;
}

function isRunning(s: ConnectorState | null): boolean {
  return s !== null && s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING');
}

/** The capture of one connector: Connect's state and, when it runs, its lag. */
async function oneStatus(
  c: Capture,
  client: ConnectClient,
  o: { lag: boolean; waitMs: number; env: NodeJS.ProcessEnv; kafkaBrokers: string[] },
): Promise<CaptureStatus> {
  const s = await client.status(c.spec.name);
  const base = {
    stage: c.stage,
    pipeline: c.pipeline,
    connector: c.spec.name,
    kind: c.spec.kind,
    topic: c.topic,
    state: s?.connector.state ?? 'MISSING',
    tasks: taskList(s),
    maxLagBytes: c.capture.maxLagBytes,
    trace: firstTrace(s),
  };
  const none: CaptureLag = {
    databasePosition: null,
    connectorPosition: null,
    lagBytes: null,
    caughtUp: false,
    unconfirmedBytes: null,
    slotActive: null,
    problem: null,
  };
  if (!isRunning(s) || !o.lag)
    return {
      ...base,
      running: isRunning(s),
      ...none,
      problem: s === null ? `Kafka Connect at ${client.url} has no connector ${c.spec.name} (run ulbridge connect apply)` : null,
    };
  let url: string;
  try {
    url = ulbridgeUrl(c.capture.db, c.capture.password, o.env);
  } catch (e) {
    return { ...base, running: true, ...none, problem: (e as Error).message };
  }
  const lag = await captureLag(url, c.spec, client, o.waitMs, o.kafkaBrokers ? { brokers: o.kafkaBrokers, topic: c.topic } : undefined);
  // A PostgreSQL connector whose slot no walsender holds is not streaming, whatever Connect says.
  const running = c.spec.kind !== 'postgres' || lag.slotActive !== false;
  return { ...base, running, ...lag };
}

export interface CaptureStatusOptions {
  /** Measure lag too (default true). */
  lag?: boolean;
  /** How long a connector short of the database's start position is re-read (default 10 s). */
  waitMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Every capture of the config: state, tasks and lag. Connect not answering is CONNECT_UNREACHABLE. */
export async function captureStatuses(cfg: Config, connectUrl: string, o: CaptureStatusOptions = {}): Promise<CaptureStatus[]> {
  const client = new ConnectClient(connectUrl);
  const captures = configCaptures(cfg);
  // One round each, in parallel: each connector is re-read for at most waitMs.
  return Promise.all(
    captures.map((c) =>
      oneStatus(c, client, { lag: o.lag ?? true, waitMs: o.waitMs ?? 10_000, env: o.env ?? process.env, kafkaBrokers: cfg.kafka.brokers }),
    ),
  );
}

export interface ApplyResult {
  name: string;
  stage: Capture['stage'];
  pipeline: string;
  topic: string;
  /** created, updated (config changed) or unchanged. */
  action: 'created' | 'updated' | 'unchanged';
  /** PostgreSQL: REPLICA IDENTITY FULL set now (true), already set (false); null for MySQL/MariaDB. */
  replicaIdentitySet: boolean | null;
  state: string;
  tasks: CaptureStatus['tasks'];
}

/** ALTER TABLE ... REPLICA IDENTITY FULL unless the table has it already; true when it was changed. */
async function ensureReplicaIdentityFull(c: Capture, env: NodeJS.ProcessEnv): Promise<boolean> {
  const client = new pg.Client({ connectionString: ulbridgeUrl(c.capture.db, c.capture.password, env) });
  client.on('error', () => undefined);
  const { schema, table } = pgTable(c.spec.table);
  try {
    await client.connect();
    const r = await client.query<{ ident: string }>(
      'SELECT c.relreplident AS ident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2',
      [schema, table],
    );
    if (!r.rows[0]) throw new Error(`table ${schema}.${table} does not exist`);
    if (r.rows[0].ident === 'f') return false;
    await client.query(`ALTER TABLE "${schema.replace(/"/g, '""')}"."${table.replace(/"/g, '""')}" REPLICA IDENTITY FULL`);
    return true;
  } catch (e) {
    throw new UlbridgeError(
      'CAPTURE_TABLE',
      `${c.key}: cannot set REPLICA IDENTITY FULL on ${schema}.${table}: ${redactUrl((e as Error).message)}`,
      2,
      { cause: e },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Refuses a schemaless connector on a table whose DATETIME columns it would misread (CAPTURE_COLUMN_UNITS). */
async function checkSchemalessUnits(c: Capture, env: NodeJS.ProcessEnv): Promise<void> {
  const table = parseTableName(c.spec.table);
  const url = ulbridgeUrl(c.capture.db, c.capture.password, env);
  let problems: string[];
  try {
    const db = await openDb(url);
    try {
      const columns = await columnTypes(db, table, DATETIME_COLUMNS);
      problems = columns.map((col) => schemalessUnitProblem(db.dialect.name, col)).filter((p): p is string => p !== null);
    } finally {
      await db.close();
    }
  } catch (e) {
    if (isUlbridgeError(e) && e.code === 'TABLE_MISSING') {
      throw new UlbridgeError('CAPTURE_TABLE', `${c.key}: table ${table.display} does not exist (check ${c.key}.table and .db)`, 2);
    }
    if (isUlbridgeError(e)) throw e;
    const why = `${c.key}: cannot read the column types of ${table.display}: ${redactUrl((e as Error).message)}`;
    throw new UlbridgeError('CAPTURE_TABLE', why, 2, { cause: e });
  }
  if (problems.length > 0) {
    throw new UlbridgeError(
      'CAPTURE_COLUMN_UNITS',
      `${c.key}: table ${table.display}: ${problems.join('; ')}. Set ${c.key}.valueSchemas: true: each value then states its unit`,
      2,
    );
  }
}

const sameConfig = (a: Record<string, string>, b: Record<string, string>): boolean => {
  const strip = (x: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'name'));
  const sa = strip(a);
  const sb = strip(b);
  return Object.keys(sa).length === Object.keys(sb).length && Object.entries(sa).every(([k, v]) => sb[k] === v);
};

/**
 * Creates or updates every connector (PUT /connectors/NAME/config), then waits until each
 * connector and its task run. First, on each table: without value schemas, its DATETIME columns
 * must have the precision the ingest assumes (./columnUnits.ts); PostgreSQL tables get REPLICA
 * IDENTITY FULL (before the connector exists: a delete committed before Debezium's own autoset
 * would carry only the key).
 */
export async function applyConnectors(
  cfg: Config,
  connectUrl: string,
  o: { waitMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ApplyResult[]> {
  const client = new ConnectClient(connectUrl);
  const env = o.env ?? process.env;
  const deadline = Date.now() + (o.waitMs ?? 120_000);
  const out: ApplyResult[] = [];
  for (const c of configCaptures(cfg)) {
    const config = captureConnectorConfig(c);
    if (!hasValueSchemas(config)) await checkSchemalessUnits(c, env);
    const replicaIdentitySet = c.spec.kind === 'postgres' ? await ensureReplicaIdentityFull(c, env) : null;
    const existing = await client.getConfig(c.spec.name);
    let action: ApplyResult['action'] = 'unchanged';
    if (existing === null || !sameConfig(existing, config)) {
      const r = await client.putConfig(c.spec.name, config, deadline);
      action = existing === null || r.created ? 'created' : 'updated';
    }
    out.push({
      name: c.spec.name,
      stage: c.stage,
      pipeline: c.pipeline,
      topic: c.topic,
      action,
      replicaIdentitySet,
      state: 'UNKNOWN',
      tasks: [],
    });
  }
  for (const r of out) {
    for (;;) {
      const s = await client.status(r.name);
      r.state = s?.connector.state ?? 'MISSING';
      r.tasks = taskList(s);
      if (isRunning(s)) break;
      const failed = s?.connector.state === 'FAILED' || s?.tasks.some((t) => t.state === 'FAILED');
      if (failed || Date.now() > deadline) {
        throw new UlbridgeError(
          'CONNECTOR_NOT_RUNNING',
          `connector ${r.name} is ${r.state} (tasks ${r.tasks.map((t) => `${t.id}:${t.state}`).join(',') || 'none'})${firstTrace(s) ? `: ${firstTrace(s)}` : ''}; see the Connect worker's log`,
        );
      }
      await sleep(500);
    }
  }
  return out;
}
