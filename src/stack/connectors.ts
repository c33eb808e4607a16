/**
 * Debezium source connectors through the Kafka Connect REST API: one connector per source
 * `location` table, registered with PUT /connectors/<name>/config and awaited until the connector
 * and its task are RUNNING (and, on request, until the initial snapshot is done).
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { ConnectClient } from '../connect/rest.js';
import { isUlbridgeError } from '../ops/errors.js';
import { StackError } from './errors.js';
import { sleep } from './process.js';
import {
  changeTopic,
  connectorConfig as deriveConnectorConfig,
  ConnectorSpecError,
  notificationTopic,
  type ConnectorSpec,
} from '../connect/derive.js';

// The derivation itself lives in src/connect/derive.ts (shared with `ulbridge connect`).
export { changeTopic, defaultServerId, notificationTopic, pgIdent, type ConnectorSpec, type SourceKind } from '../connect/derive.js';

export interface RegisterOptions {
  /** Wait until the initial snapshot completed (needs kafkaBrokers reachable from here). Default false. */
  waitForSnapshot?: boolean;
  /** Default 120 s. */
  timeoutMs?: number;
  /** Brokers as reachable from this process for the snapshot wait (default: spec.kafkaBrokers). */
  kafkaBrokers?: string[];
}

export interface RegisteredConnector {
  name: string;
  /** The change-event topic of the table. */
  topic: string;
  config: Record<string, string>;
}

/** The full Connect configuration for a spec (src/connect/derive.ts); an invalid spec is STACK_CONNECTOR_FAILED. */
export function connectorConfig(spec: ConnectorSpec, opts: { notifications?: boolean } = {}): Record<string, string> {
  try {
    return deriveConnectorConfig(spec, opts);
  } catch (e) {
    if (e instanceof ConnectorSpecError) throw new StackError('STACK_CONNECTOR_FAILED', e.message);
    throw e;
  }
}

/** Connect's coded errors (CONNECTOR_REJECTED, CONNECT_UNREACHABLE) as the stack's own code. */
async function asStackError<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (isUlbridgeError(e)) throw new StackError('STACK_CONNECTOR_FAILED', e.message);
    throw e;
  }
}

interface ConnectorStatus {
  connector: { state: string; trace?: string };
  tasks: Array<{ id: number; state: string; trace?: string }>;
}

function firstLines(trace: string | undefined, n = 8): string {
  return (trace ?? '').split('\n').slice(0, n).join('\n');
}

/** Creates (or reconfigures) the connector and waits until it and its task are RUNNING. */
async function setReplicaIdentityFull(spec: ConnectorSpec): Promise<void> {
  const client = new pg.Client({ connectionString: spec.url });
  try {
    await client.connect();
    const [schema, table] = spec.table.includes('.') ? spec.table.split('.', 2) : ['public', spec.table];
    await client.query(`ALTER TABLE "${schema!.replace(/"/g, '""')}"."${table!.replace(/"/g, '""')}" REPLICA IDENTITY FULL`);
  } catch (e) {
    throw new StackError(
      'STACK_CONNECTOR_FAILED',
      `connector ${spec.name}: cannot set REPLICA IDENTITY FULL on ${spec.table}: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function registerConnector(connectUrl: string, spec: ConnectorSpec, opts: RegisterOptions = {}): Promise<RegisteredConnector> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const config = connectorConfig(spec, { notifications: opts.waitForSnapshot === true });
  const topic = changeTopic(spec);
  const brokers = opts.kafkaBrokers ?? spec.kafkaBrokers;
  if (opts.waitForSnapshot && !brokers?.length) {
    throw new StackError('STACK_CONNECTOR_FAILED', `connector ${spec.name}: waitForSnapshot needs kafkaBrokers`);
  }
  // REPLICA IDENTITY FULL before the connector exists: Debezium's autoset applies it only once the
  // connector has started, and a delete committed before that carries nothing but the key.
  if (spec.kind === 'postgres' && spec.replicaIdentityFull !== false) await setReplicaIdentityFull(spec);
  // Start listening for the snapshot notification before the connector can emit it.
  const snapshotDone = opts.waitForSnapshot ? await watchSnapshot(brokers!, notificationTopic(spec), spec.name, deadline) : undefined;
  try {
    await asStackError(() => new ConnectClient(connectUrl, 30_000).putConfig(spec.name, config, deadline));
    await waitRunning(connectUrl, spec.name, deadline);
    if (snapshotDone) await snapshotDone.done;
  } finally {
    await snapshotDone?.close();
  }
  return { name: spec.name, topic, config };
}

async function waitRunning(connectUrl: string, name: string, deadline: number): Promise<void> {
  const client = new ConnectClient(connectUrl, 30_000);
  let last = 'no status yet';
  for (;;) {
    const r = await client.call('GET', `/connectors/${encodeURIComponent(name)}/status`);
    if (r.status === 200) {
      const s = r.json as ConnectorStatus;
      last = `connector ${s.connector.state}, tasks ${s.tasks.map((t) => `${t.id}:${t.state}`).join(',') || 'none'}`;
      const failed = s.connector.state === 'FAILED' ? s.connector.trace : s.tasks.find((t) => t.state === 'FAILED')?.trace;
      if (s.connector.state === 'FAILED' || s.tasks.some((t) => t.state === 'FAILED')) {
        throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} failed (${last}); see the Connect log:\n${firstLines(failed)}`);
      }
      if (s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING')) return;
    }
    if (Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} not RUNNING in time (${last})`);
    await sleep(300);
  }
}

interface Watch {
  done: Promise<void>;
  close: () => Promise<void>;
}

/** Follows the Debezium notification topic until the initial snapshot reports COMPLETED (or SKIPPED). */
async function watchSnapshot(brokers: string[], topic: string, name: string, deadline: number): Promise<Watch> {
  const kafka = new Kafka({ clientId: 'ulbridge-snapshot-wait', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `ulbridge-snapshot-wait-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: true });
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  const timer = setTimeout(
    () => reject(new StackError('STACK_CONNECTOR_FAILED', `connector ${name}: initial snapshot not reported complete on ${topic} in time`)),
    Math.max(0, deadline - Date.now()),
  );
  // Create the topic first: subscribing to a missing one fails instead of auto-creating it.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      let n: unknown;
      try {
        n = JSON.parse(message.value.toString('utf8'));
      } catch {
        return;
      }
      const payload = (n && typeof n === 'object' && 'payload' in n ? n.payload : n) as Record<string, unknown> | null;
      if (!payload || payload.aggregate_type !== 'Initial Snapshot') return;
      if (payload.type === 'COMPLETED' || payload.type === 'SKIPPED') resolve();
      else if (payload.type === 'ABORTED')
        reject(new StackError('STACK_CONNECTOR_FAILED', `connector ${name}: initial snapshot ABORTED; see the Connect log`));
    },
  });
  return {
    done,
    close: async () => {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

export interface DeleteOptions {
  timeoutMs?: number;
  /**
   * PostgreSQL only: also drop the connector's replication slot and publication (a leftover slot
   * keeps WAL forever and blocks DROP DATABASE). Pass the spec the connector was registered with.
   */
  cleanup?: ConnectorSpec;
}

/** Deletes a connector (absent is fine) and waits until Connect no longer lists it. */
export async function deleteConnector(connectUrl: string, name: string, opts: DeleteOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const client = new ConnectClient(connectUrl, 30_000);
  for (;;) {
    const r = await client.call('DELETE', `/connectors/${encodeURIComponent(name)}`);
    if (r.status === 204 || r.status === 200 || r.status === 404) break;
    if (r.status !== 409 || Date.now() > deadline)
      throw new StackError('STACK_CONNECTOR_FAILED', `DELETE connector ${name} answered ${r.status}: ${r.text}`);
    await sleep(500);
  }
  for (;;) {
    const r = await client.call('GET', `/connectors/${encodeURIComponent(name)}`);
    if (r.status === 404) break;
    if (Date.now() > deadline) throw new StackError('STACK_CONNECTOR_FAILED', `connector ${name} still listed after DELETE`);
    await sleep(300);
  }
  if (opts.cleanup?.kind === 'postgres') await dropPostgresSlot(opts.cleanup, deadline);
}

async function dropPostgresSlot(spec: ConnectorSpec, deadline: number): Promise<void> {
  const cfg = connectorConfig(spec);
  const slot = cfg['slot.name']!;
  const publication = cfg['publication.name']!;
  const client = new pg.Client({ connectionString: spec.url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (;;) {
      const r = await client.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [
        slot,
      ]);
      const row = r.rows[0];
      if (!row) break;
      if (row.active_pid !== null) {
        await client.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
        await sleep(200);
        continue;
      }
      try {
        await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
        break;
      } catch (e) {
        if (Date.now() > deadline)
          throw new StackError('STACK_CONNECTOR_FAILED', `cannot drop replication slot ${slot}: ${(e as Error).message}`, {}, { cause: e });
        await sleep(200);
      }
    }
    await client.query(`DROP PUBLICATION IF EXISTS "${publication.replace(/"/g, '""')}"`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
