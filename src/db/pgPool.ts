import type pg from 'pg';

/**
 * Runs `fn` on a client checked out of `pool`, safely when the server goes away meanwhile:
 * - a checked-out client has no 'error' listener of the pool's, and pg emits 'error' on it when
 *   its connection is cut or the server stops (between or during queries): with no listener that
 *   is an uncaught exception and the process exits. A listener is attached for the checkout (the
 *   query in flight rejects by itself, which is what `fn` sees);
 * - after a failure the client is destroyed instead of returned, so a broken session is never
 *   handed out again.
 */
export async function withPoolClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | null = null;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    const result = await fn(client);
    client.off('error', onError);
    client.release(broken ?? undefined);
    return result;
  } catch (e) {
    client.off('error', onError);
    client.release(true);
    throw e;
  }
}
