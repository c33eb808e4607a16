/**
 * A recording TCP proxy for OpenSIPS proto_bin traffic (loopback only): peers are told the tap's
 * port instead of each other's, the tap forwards every byte unchanged and records each whole BIN
 * packet (split with the length field) with its direction and arrival time. Used to capture the
 * fixtures under test/fixtures/opensips-bin/ from real registrars.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { BinStreamSplitter } from '../../src/cluster/bin.js';

export interface TappedPacket {
  /** Which tap saw it (its name), i.e. the direction "from -> to". */
  via: string;
  /** Milliseconds since the tap started. */
  at: number;
  bytes: Buffer;
}

export class BinTap {
  readonly packets: TappedPacket[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly t0 = Date.now();

  private constructor(
    private readonly server: Server,
    readonly name: string,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 = free) and forwards to 127.0.0.1:`targetPort`. */
  static async start(name: string, targetPort: number, port = 0): Promise<BinTap> {
    const server = createServer();
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port }, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      });
    });
    const tap = new BinTap(server, name, bound);
    server.on('connection', (client) => tap.accept(client, targetPort));
    return tap;
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const record = (via: string, splitter: BinStreamSplitter, chunk: Buffer): void => {
      try {
        for (const p of splitter.push(chunk)) this.packets.push({ via, at: Date.now() - this.t0, bytes: p });
      } catch (e) {
        this.packets.push({ via: `${via} (unsplittable: ${(e as Error).message})`, at: Date.now() - this.t0, bytes: chunk });
      }
    };
    const forward = new BinStreamSplitter();
    const back = new BinStreamSplitter();
    client.on('data', (chunk: Buffer) => {
      record(this.name, forward, chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      record(`${this.name} (reply on the same connection)`, back, chunk);
      client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
