import { createServer } from 'node:net';
import { StackError } from './errors.js';

export const HOST = '127.0.0.1';

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: HOST, port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : port;
      srv.close(() => resolve(got));
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick). */
export async function freePort(exclude: ReadonlySet<number> = new Set()): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await listenOnce(0);
    if (!exclude.has(p)) return p;
  }
  throw new StackError('STACK_START_FAILED', 'could not find a free TCP port on 127.0.0.1');
}

/** Throws STACK_PORT_IN_USE unless `port` can be bound on 127.0.0.1 right now. */
export async function assertPortFree(port: number, service: string): Promise<void> {
  try {
    await listenOnce(port);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new StackError(
        'STACK_PORT_IN_USE',
        `port ${port} on ${HOST} wanted for ${service} is ${code === 'EACCES' ? 'not allowed' : 'already in use'}; ` +
          'stop whatever holds it, pick another port, or leave the port unset to get a free one',
        { service },
        { cause: e },
      );
    }
    throw e;
  }
}

export interface PortRequest {
  name: string;
  /** A fixed port, or undefined for a free one. */
  port: number | undefined;
}

/** Resolves every request to a distinct port; fixed ones must be free. */
export async function allocatePorts(reqs: PortRequest[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const r of reqs) {
    if (r.port === undefined) continue;
    if (taken.has(r.port)) throw new StackError('STACK_PORT_IN_USE', `port ${r.port} is requested twice (${r.name})`, { service: r.name });
    await assertPortFree(r.port, r.name);
    taken.add(r.port);
    out.set(r.name, r.port);
  }
  for (const r of reqs) {
    if (r.port !== undefined) continue;
    const p = await freePort(taken);
    taken.add(p);
    out.set(r.name, p);
  }
  return out;
}
