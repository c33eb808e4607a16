import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../ops/metrics.js';

export interface HealthSource {
  /** The process is alive and no component has failed for good. */
  healthy(): boolean;
  /** Every component has started and joined its consumer group. */
  ready(): { ready: boolean; reasons: string[] };
}

/** /metrics (Prometheus text), /healthz and /readyz on one small HTTP server. */
export async function startHttpServer(
  host: string,
  port: number,
  metrics: Metrics,
  health: HealthSource,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body))
        .catch((e: unknown) => res.writeHead(500).end(String(e)));
      return;
    }
    if (path === '/healthz') {
      const ok = health.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'failed' }));
      return;
    }
    if (path === '/readyz') {
      const r = health.ready();
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ready: r.ready, reasons: r.reasons }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
