import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import type { DbConnection, QueryOptions } from './connection.js';
import { postgresDialect } from './dialect.js';
import { connectError, queryError } from './errors.js';
import { arrayParams } from './pgArray.js';
import { prepared } from './pgPrepared.js';
import type { DbTarget } from './url.js';

const OID_INT8 = 20;
const OID_TIMESTAMP = 1114;
const OID_TIMESTAMPTZ = 1184;
const OID_DATE = 1082;

const identity = (v: string): string => v;
const toBigInt = (v: string): bigint => BigInt(v);

/**
 * Type parsers for this connection only (never the process-wide pg.types): int8 as bigint, and
 * dates/timestamps as their text so no JS Date (and no implicit time zone) is involved.
 */
const types = {
  getTypeParser(oid: number, format?: string): unknown {
    if (format === undefined || format === 'text') {
      if (oid === OID_INT8) return toBigInt;
      if (oid === OID_TIMESTAMP || oid === OID_TIMESTAMPTZ || oid === OID_DATE) return identity;
    }
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
};

export async function openPostgres(target: DbTarget): Promise<DbConnection> {
  const client = new pg.Client({
    connectionString: target.url,
    types,
    connectionTimeoutMillis: 10_000,
    application_name: 'ulbridge',
  });
  // A server-side disconnect between statements surfaces on the next query; without a listener
  // node would crash on the emitted 'error'.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw connectError(target, e);
  }
  // ulbridge's statements are either short or long streaming scans/aggregates; JIT compilation
  // (several seconds of CPU on a small host for one GROUP BY) never pays off for them.
  // PostgreSQL < 11 has no `jit` setting: ignore the error there.
  await client.query('SET jit = off').catch(() => {});

  return {
    target,
    dialect: postgresDialect,

    async query<T>(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}): Promise<T[]> {
      try {
        const res = await client.query({ ...(opts.prepared ? prepared(sql, params) : { text: sql, values: arrayParams(params) }), types });
        return res.rows as T[];
      } catch (e) {
        throw queryError(target, 'query', e);
      }
    },

    async *stream<T>(sql: string, params: readonly unknown[], batchSize: number): AsyncIterable<T[]> {
      const cursor = client.query(new Cursor<T>(sql, [...params], { types }));
      try {
        let pending = cursor.read(batchSize);
        pending.catch(() => {}); // rejection is handled where it is awaited
        for (;;) {
          let rows: T[];
          try {
            rows = await pending;
          } catch (e) {
            throw queryError(target, 'reading rows', e);
          }
          const more = rows.length === batchSize;
          if (more) {
            pending = cursor.read(batchSize);
            pending.catch(() => {});
          }
          if (rows.length > 0) yield rows;
          if (!more) break;
        }
      } finally {
        // Closes the portal whether the scan finished or the consumer stopped early.
        await cursor.close().catch(() => {});
      }
    },

    async copyOut(sql: string, sink: Writable): Promise<number> {
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      try {
        await pipeline(client.query(copyTo(`COPY (${sql}) TO STDOUT`)), counter, sink);
      } catch (e) {
        throw queryError(target, 'COPY TO', e);
      }
      return bytes;
    },

    async close(): Promise<void> {
      await client.end().catch(() => {});
    },
  };
}
