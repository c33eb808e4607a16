/**
 * A scripted clusterer node for tests (loopback only): it listens on a bin port, records every BIN
 * packet it receives, answers PING with PONG and capability updates that ask for a reply with its
 * own, pings its neighbours, announces its capabilities, and sends whatever packets a test gives
 * it, e.g. usrloc replication packets replayed from the captured fixtures with the trailer
 * rewritten to this node's ids. It is not ulbridge's node logic, only enough of the node protocol
 * for OpenSIPS to see it as an up neighbour with the capability in state Ok.
 *
 * Tests of ulbridge's own node (src/cluster/node.ts) script misbehaviour with the public switches
 * (answerPings, answerCapUpdates, mute, pauseReading()) and restart a node by stop() and a new
 * start() on the same port.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { BinStreamSplitter, decodeBinPacket, encodeBinPacket } from '../../src/cluster/bin.js';
import {
  appendTrailer,
  decodeClusterPacket,
  encodeInternal,
  splitTrailer,
  type AnyPacket,
  type Trailer,
} from '../../src/cluster/clusterer.js';

export interface PeerOptions {
  clusterId: number;
  nodeId: number;
  /** Listen port on 127.0.0.1 (0 = free). */
  port?: number;
  neighbours: Array<{ nodeId: number; port: number }>;
  /** Capabilities announced in state Ok (e.g. ["usrloc-contact-repl"]). */
  capabilities: string[];
  pingIntervalMs?: number;
}

export interface Received {
  at: number;
  bytes: Buffer;
  packet: AnyPacket | { kind: 'undecodable'; error: string };
}

export class ScriptedPeer {
  readonly received: Received[] = [];
  private readonly out = new Map<number, Socket>();
  private readonly inbound = new Set<Socket>();
  private timer: NodeJS.Timeout | undefined;
  private capSeq = 0;
  private readonly t0 = Date.now();
  private paused = false;
  /** Answer PING with PONG. */
  answerPings = true;
  /** Answer a CAP_UPDATE that asks for a reply with this node's own. */
  answerCapUpdates = true;
  /** Send nothing at all (no pings, no answers); received packets are still recorded. */
  mute = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly o: PeerOptions,
  ) {}

  static async start(o: PeerOptions): Promise<ScriptedPeer> {
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: o.port ?? 0 }, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      });
    });
    const peer = new ScriptedPeer(server, port, o);
    server.on('connection', (s) => peer.accept(s));
    return peer;
  }

  /** Starts pinging the neighbours and announcing the capabilities. */
  begin(): void {
    const tick = (): void => {
      if (this.mute) return;
      for (const n of this.o.neighbours) {
        this.sendTo(
          n.nodeId,
          encodeInternal({ clusterId: this.o.clusterId, sourceId: this.o.nodeId, message: { type: 'PING', requestNodeList: 0 } }),
        );
      }
    };
    tick();
    this.announce(1);
    this.timer = setInterval(tick, this.o.pingIntervalMs ?? 1000);
  }

  /** CAP_UPDATE with this node's capabilities, as send_cap_update() builds it. */
  announce(requireReply: number, toNode?: number): void {
    const pkt = encodeInternal({
      clusterId: this.o.clusterId,
      sourceId: this.o.nodeId,
      message: {
        type: 'CAP_UPDATE',
        seqNo: ++this.capSeq,
        timestamp: Math.floor(Date.now() / 1000),
        nodes: [{ nodeId: this.o.nodeId, capabilities: this.o.capabilities.map((name) => ({ name, state: 1 })) }],
        requireReply,
        path: [this.o.nodeId],
      },
    });
    for (const n of this.o.neighbours) if (toNode === undefined || toNode === n.nodeId) this.sendTo(n.nodeId, pkt);
  }

  /** Sends a whole BIN packet to a neighbour. */
  sendTo(nodeId: number, bytes: Buffer): void {
    let s = this.out.get(nodeId);
    if (!s || s.destroyed) {
      const n = this.o.neighbours.find((x) => x.nodeId === nodeId);
      if (!n) throw new Error(`node ${nodeId} is not a neighbour of scripted node ${this.o.nodeId}`);
      s = createConnection({ host: '127.0.0.1', port: n.port });
      s.on('error', () => s?.destroy());
      s.on('data', (chunk: Buffer) => this.record(chunk, new BinStreamSplitter()));
      this.out.set(nodeId, s);
    }
    s.write(bytes);
  }

  /**
   * Sends a captured module packet as if this node had sent it: same header and fields, the
   * trailer replaced by (this cluster, this node, destination).
   */
  replay(captured: Buffer, destId: number): Buffer {
    const p = decodeBinPacket(captured);
    const { payload } = splitTrailer(p.body);
    const t: Trailer = { clusterId: this.o.clusterId, sourceId: this.o.nodeId, destId };
    const bytes = encodeBinPacket({ ...p, body: appendTrailer(payload, t) });
    this.sendTo(destId, bytes);
    return bytes;
  }

  /** Stops reading what the neighbours send (their send buffers fill up). */
  pauseReading(): void {
    this.paused = true;
    for (const s of this.inbound) s.pause();
  }

  /** The internal messages of one type received so far. */
  internal(type: string): Received[] {
    return this.received.filter((r) => r.packet.kind === 'internal' && r.packet.message.type === type);
  }

  private accept(s: Socket): void {
    this.inbound.add(s);
    if (this.paused) s.pause();
    const splitter = new BinStreamSplitter();
    s.on('data', (chunk: Buffer) => this.record(chunk, splitter));
    s.on('error', () => s.destroy());
    s.on('close', () => this.inbound.delete(s));
  }

  private record(chunk: Buffer, splitter: BinStreamSplitter): void {
    for (const bytes of splitter.push(chunk)) {
      let packet: Received['packet'];
      try {
        packet = decodeClusterPacket(bytes);
      } catch (e) {
        packet = { kind: 'undecodable', error: (e as Error).message };
      }
      this.received.push({ at: Date.now() - this.t0, bytes, packet });
      this.react(packet);
    }
  }

  private react(p: Received['packet']): void {
    if (p.kind !== 'internal' || this.mute) return;
    const from = p.sourceId;
    if (!this.o.neighbours.some((n) => n.nodeId === from)) return;
    if (p.message.type === 'PING' && this.answerPings) {
      this.sendTo(from, encodeInternal({ clusterId: this.o.clusterId, sourceId: this.o.nodeId, message: { type: 'PONG', nodes: [] } }));
    } else if (p.message.type === 'CAP_UPDATE' && p.message.requireReply && this.answerCapUpdates) {
      this.announce(0, from);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of [...this.out.values(), ...this.inbound]) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
