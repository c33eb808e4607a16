import type { Writable } from 'node:stream';
import type { Dialect } from './dialect.js';
import type { DbTarget } from './url.js';

/**
 * One database session. Implementations: src/db/pg.ts (pg + pg-cursor) and src/db/mysql.ts
 * (mysql2). Values come back typed the same way on both:
 *   - BIGINT as bigint (PostgreSQL: int8 parser set on this connection only; MySQL:
 *     supportBigNumbers + bigNumberStrings, converted by the readers),
 *   - DATETIME/TIMESTAMP never through a JS Date (readers select them as text; the PostgreSQL
 *     timestamp parsers also return the text unchanged),
 *   - INT/REAL as number, text as string, NULL as null.
 */
export interface QueryOptions {
  /**
   * PostgreSQL: run as a named prepared statement (src/db/pgPrepared.ts), for a statement whose
   * text is the same on every call and runs often. MySQL/MariaDB: no effect.
   */
  prepared?: boolean;
}

export interface DbConnection {
  readonly target: DbTarget;
  readonly dialect: Dialect;
  /** Runs one statement and returns all its rows (small results only). */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<T[]>;
  /**
   * Streams a large result in batches with flat memory: a server-side cursor on PostgreSQL, an
   * unbuffered result stream on MySQL. The next batch is requested before the current one is
   * handed over, so the server produces while the caller consumes.
   */
  stream<T = Record<string, unknown>>(sql: string, params: readonly unknown[], batchSize: number): AsyncIterable<T[]>;
  /** PostgreSQL only: COPY (query) TO STDOUT into a sink; resolves with the bytes copied. */
  copyOut?(sql: string, sink: Writable): Promise<number>;
  close(): Promise<void>;
}
