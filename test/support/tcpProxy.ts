/**
 * An in-process TCP proxy for fault tests (as kafkajs-style client suites use): a client is
 * configured with the proxy's port instead of the server's, and the test can
 * - `cut()`: destroy every open connection at once (both sides see a reset; new connections work),
 * - `stall(ms)`: stop forwarding in both directions for `ms` (connections stay open, bytes wait,
 *   new connections are accepted but not served), then resume as if nothing happened,
 * - `block()` / `unblock()`: refuse new connections (accept and close at once) until unblocked.
 * Only 127.0.0.1.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** The server behind the proxy; may be set later with setTarget (e.g. a port not known yet). */
  target?: { host?: string; port: number };
  /** Listen on this port (default: a free one). */
  port?: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Chunks read while stalled, per direction, forwarded on resume. */
  held: { toUpstream: Buffer[]; toClient: Buffer[] };
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private target: { host: string; port: number } | undefined;
  private stalled = false;
  private blocked = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private stallDone: (() => void) | undefined;
  /** Connections accepted so far, and connections destroyed by cut(). */
  readonly stats = { accepted: 0, cut: 0, refused: 0 };

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(opts: TcpProxyOptions = {}): Promise<TcpProxy> {
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: opts.port ?? 0 }, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      });
    });
    const proxy = new TcpProxy(server, port);
    if (opts.target) proxy.setTarget(opts.target);
    server.on('connection', (s) => proxy.accept(s));
    return proxy;
  }

  /** `127.0.0.1:PORT` of the proxy. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Open proxied connections. */
  get connections(): number {
    return this.pairs.size;
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  setTarget(t: { host?: string; port: number }): void {
    this.target = { host: t.host ?? '127.0.0.1', port: t.port };
  }

  private accept(client: Socket): void {
    if (this.blocked || !this.target) {
      this.stats.refused++;
      client.destroy();
      return;
    }
    this.stats.accepted++;
    client.setNoDelay(true);
    const upstream = createConnection({ host: this.target.host, port: this.target.port });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, held: { toUpstream: [], toClient: [] } };
    this.pairs.add(pair);
    const close = (): void => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    this.forward(pair, client, upstream, pair.held.toUpstream);
    this.forward(pair, upstream, client, pair.held.toClient);
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
  }

  /** from -> to, with backpressure; while stalled nothing is written (and the reader is paused). */
  private forward(pair: Pair, from: Socket, to: Socket, held: Buffer[]): void {
    from.on('data', (chunk: Buffer) => {
      if (this.stalled || held.length > 0) {
        held.push(chunk);
        from.pause();
        return;
      }
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.stalled && this.pairs.has(pair)) from.resume();
    });
    from.on('end', () => {
      if (!this.stalled) to.end();
      else {
        // Half-close after the held bytes went out.
        const check = setInterval(() => {
          if (!this.stalled && held.length === 0) {
            clearInterval(check);
            to.end();
          }
        }, 50);
        check.unref();
      }
    });
  }

  /** Destroys every open connection (clients see the connection reset); new ones are proxied again. */
  cut(): number {
    const n = this.pairs.size;
    for (const p of [...this.pairs]) {
      this.pairs.delete(p);
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
    this.stats.cut += n;
    return n;
  }

  /** Stops forwarding for `ms`, then resumes every connection (held bytes first). Resolves on resume. */
  stall(ms: number): Promise<void> {
    this.stalled = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream.pause();
    }
    clearTimeout(this.stallTimer);
    return new Promise<void>((resolve) => {
      this.stallDone = resolve;
      this.stallTimer = setTimeout(() => this.resume(), ms);
    });
  }

  /** Ends a stall now. */
  resume(): void {
    clearTimeout(this.stallTimer);
    this.stalled = false;
    for (const p of this.pairs) {
      for (const [held, to] of [
        [p.held.toUpstream, p.upstream],
        [p.held.toClient, p.client],
      ] as const) {
        while (held.length > 0) to.write(held.shift()!);
      }
      p.client.resume();
      p.upstream.resume();
    }
    const done = this.stallDone;
    this.stallDone = undefined;
    done?.();
  }

  /** New connections are accepted and closed at once until unblock(). */
  block(): void {
    this.blocked = true;
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.resume();
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
