import mysql from 'mysql2';
import type { DbConnection } from './connection.js';
import { mysqlDialect } from './dialect.js';
import { connectError, queryError } from './errors.js';
import type { DbTarget } from './url.js';

/**
 * mysql2 session: BIGINT values come back as decimal strings (supportBigNumbers +
 * bigNumberStrings; the readers turn them into bigint), DATETIME as strings (dateStrings), so
 * neither a JS number nor a JS Date ever holds them.
 */
export async function openMysql(target: DbTarget): Promise<DbConnection> {
  const conn = mysql.createConnection({
    uri: target.url,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    connectTimeout: 10_000,
    charset: 'utf8mb4',
  });
  // Fatal errors between statements surface on the next query; a listener keeps node alive.
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  } catch (e) {
    conn.destroy();
    throw connectError(target, e);
  }
  let broken = false;

  return {
    target,
    dialect: mysqlDialect,

    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      try {
        const [rows] = await conn.promise().query(sql, [...params]);
        return rows as T[];
      } catch (e) {
        throw queryError(target, 'query', e);
      }
    },

    async *stream<T>(sql: string, params: readonly unknown[], batchSize: number): AsyncIterable<T[]> {
      // Unbuffered: rows arrive as the server sends them; the socket is paused while the stream's
      // buffer (highWaterMark rows) is full, so memory stays flat.
      const rows = conn.query({ sql, values: [...params] }).stream({ highWaterMark: batchSize });
      let batch: T[] = [];
      let finished = false;
      try {
        for await (const row of rows) {
          batch.push(row as T);
          if (batch.length === batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
        finished = true;
      } catch (e) {
        throw queryError(target, 'reading rows', e);
      } finally {
        if (!finished) {
          // A half-read unbuffered result leaves the session unusable: drop it.
          broken = true;
          rows.destroy();
          conn.destroy();
        }
      }
    },

    async close(): Promise<void> {
      if (broken) return;
      await conn
        .promise()
        .end()
        .catch(() => conn.destroy());
    },
  };
}
