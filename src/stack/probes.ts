/** One-shot "does it answer?" checks, shared by start-up waits and `stack status`. */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { Kafka, logLevel } from 'kafkajs';

export async function probePostgres(url: string, timeoutMs = 2000): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function probeMariaDb(url: string, timeoutMs = 2000): Promise<boolean> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ uri: url, connectTimeout: timeoutMs });
    await conn.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/** True once the broker is registered and answers metadata requests. */
export async function probeKafka(brokers: string[], timeoutMs = 3000): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'ulbridge-stack-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const d = await admin.describeCluster();
    return d.brokers.length > 0 && d.controller !== null && d.controller >= 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True once the Connect worker has joined its group (GET /health, Kafka 3.9+). */
export async function probeConnect(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.body?.cancel().catch(() => undefined);
    return r.status === 200;
  } catch {
    return false;
  }
}
