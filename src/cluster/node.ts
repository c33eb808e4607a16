/**
 * ulbridge as one node of an OpenSIPS clusterer cluster (docs/cluster-protocol.md, "ulbridge as a
 * node"): it listens on a bin socket, opens one TCP connection per registrar to send on, pings
 * and answers pings, announces its capabilities, and writes whole BIN packets (usrloc
 * replication, built by the caller) to the registrars that are up.
 *
 * A registrar is "up" (onNodeUp) once, since it was last down, it answered our PING (PONG), it
 * pinged us (its link to us works too) and it sent a CAP_UPDATE after ours (it knows our
 * capabilities). It goes down when our connection to it closes or fails (a registrar that dies
 * closes it at once: restarts are seen immediately), when nothing has been heard from it for
 * downAfterMs, or when more than maxBufferedBytes wait unsent on its socket. A node that comes
 * back up gets onNodeUp again: the caller replays its state to it. ulbridge is never a sync
 * donor: a SYNC_REQ is answered with an empty sync (SYNC_END, 0 chunks), which completes the
 * requester's sync, and reported through onNodeUp (reason 'sync-request') so the caller replays.
 *
 * Nothing here throws out of the event loop: socket errors, undecodable packets and throwing
 * callbacks are logged and counted.
 */
import { createConnection, createServer, isIP, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BinStreamSplitter } from './bin.js';
import { decodeClusterPacket, encodeExtra, encodeInternal, type AnyPacket, type ExtraPacket, type InternalPacket } from './clusterer.js';
import { CLUSTER_CONFIG_INVALID, CLUSTER_LISTEN_FAILED, ClusterProtocolError } from './errors.js';

export const DEFAULT_PING_INTERVAL_MS = 1000;
export const DEFAULT_DOWN_AFTER_MS = 3000;
/** A registrar whose socket holds more unsent bytes than this is marked down (it gets a replay when it is back). */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export type LogFn = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export interface ClusterNodeOptions {
  clusterId: number;
  /** ulbridge's own node id. */
  nodeId: number;
  /** The bin socket; port 0 = a free port (tests). Must be the url the registrars have for nodeId. */
  listen: { host: string; port: number };
  /** The registrars. */
  nodes: Array<{ nodeId: number; host: string; port: number }>;
  /** Announced in state 1 (Ok), e.g. ['usrloc-contact-repl']. */
  capabilities: string[];
  /** Default 1000. */
  pingIntervalMs?: number;
  /** Nothing heard from an up node for this long => down. Default 3000. */
  downAfterMs?: number;
  /** Unsent bytes on one node's socket above which that node is marked down. Default 64 MiB. */
  maxBufferedBytes?: number;
  log?: LogFn;
}

export interface NodeStatus {
  nodeId: number;
  /** bin:host:port */
  url: string;
  up: boolean;
  /** ms epoch of the last up/down transition (of start() before the first one). */
  since: number;
  /** ms epoch of the last packet received from the node. */
  lastHeardAt: number | null;
  /** Down -> up transitions. */
  ups: number;
  /** Up -> down transitions. */
  downs: number;
  lastDownReason: string | null;
  /** The node's capabilities as it last announced them (1 = Ok, 0 = not synced / disabled). */
  capabilities: Record<string, number>;
  /** Bytes written to the node's socket and not yet flushed. */
  buffered: number;
  /**
   * The node has signalled, since it was last down, that its own link to ulbridge is up: OpenSIPS
   * sends FULL_TOP_UPDATE and a CAP_UPDATE asking for a reply only then (set_link_w_neigh_up(),
   * topology.c). Informational: a registrar applies ulbridge's packets either way.
   */
  linkUpAtNode: boolean;
}

export interface ClusterNodeStats {
  /** Whole packets received (any kind, any sender). */
  packetsIn: number;
  /** Module packets handed to onModulePacket. */
  modulePackets: number;
  /** Packets whose framing was intact but that did not decode. */
  undecodable: number;
  /** Connections closed because their byte stream was not BIN packets (no "P4CK" where a packet starts). */
  brokenStreams: number;
  /** Packets of another cluster, or from a node id that is not configured. */
  foreign: number;
  /** Packets for another destination node (ulbridge does not route). */
  notForUs: number;
  /** SYNC_REQ received (answered with an empty sync when the capability is ours). */
  syncRequests: number;
  /** clusterer messages ulbridge has no use for (topology updates, GENERIC_MSG, ...). */
  ignored: number;
}

export interface ModulePacketEvent {
  capability: string;
  version: number;
  type: number;
  sourceId: number;
  bytes: Buffer;
}

/** 'up': a down -> up transition; 'sync-request': an up node asked us for a sync (replay your state to it). */
export type NodeUpReason = 'up' | 'sync-request';

interface Waiter {
  seq: number;
  resolve: () => void;
}

interface Peer {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  up: boolean;
  since: number;
  lastHeardAt: number | null;
  /** performance.now() of the last packet (silence is measured on the monotonic clock). */
  lastHeardMono: number;
  ups: number;
  downs: number;
  lastDownReason: string | null;
  capabilities: Map<string, number>;
  /** Our outbound connection (we send on it; OpenSIPS sends to us on connections it opens). */
  sock: Socket | undefined;
  lastConnectError: string | null;
  // the handshake since the node was last down
  gotPong: boolean;
  gotPing: boolean;
  capSent: boolean;
  gotCapAfterSend: boolean;
  linkUpAtNode: boolean;
  // barrier(): PINGs written on the current connection, PONGs received since it was opened
  pingsSent: number;
  pongsSeen: number;
  barriers: Array<{ target: number; done: (ok: boolean) => void }>;
  // drain(): writes on the current socket, and how many of them have been flushed
  writeSeq: number;
  flushedSeq: number;
  waiters: Waiter[];
}

const INT32_MAX = 0x7fffffff;

function nodeError(
  code: typeof CLUSTER_CONFIG_INVALID | typeof CLUSTER_LISTEN_FAILED,
  message: string,
  cause?: unknown,
): ClusterProtocolError {
  return new ClusterProtocolError(code, message, cause === undefined ? undefined : { cause });
}

function validate(o: ClusterNodeOptions): void {
  const bad = (what: string): never => {
    throw nodeError(CLUSTER_CONFIG_INVALID, `cluster node: ${what}`);
  };
  const id = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 1 || v > INT32_MAX) bad(`${what} must be an integer from 1 to ${INT32_MAX}, got ${v}`);
  };
  const port = (v: number, what: string, min: number): void => {
    if (!Number.isInteger(v) || v < min || v > 65535) bad(`${what} must be a TCP port (${min}-65535), got ${v}`);
  };
  id(o.clusterId, 'the cluster id');
  id(o.nodeId, "ulbridge's node id");
  port(o.listen.port, 'the listen port', 0);
  if (!o.listen.host) bad('the listen host is empty');
  if (o.nodes.length === 0) bad('no registrar nodes configured');
  const seen = new Set<number>();
  for (const n of o.nodes) {
    id(n.nodeId, 'a registrar node id');
    if (n.nodeId === o.nodeId) bad(`registrar node id ${n.nodeId} is ulbridge's own node id: give ulbridge an id no registrar uses`);
    if (seen.has(n.nodeId)) bad(`registrar node id ${n.nodeId} is listed twice`);
    seen.add(n.nodeId);
    port(n.port, `the bin port of node ${n.nodeId}`, 1);
    if (!n.host) bad(`the host of node ${n.nodeId} is empty`);
  }
  for (const [k, v] of [
    ['pingIntervalMs', o.pingIntervalMs],
    ['downAfterMs', o.downAfterMs],
    ['maxBufferedBytes', o.maxBufferedBytes],
  ] as const) {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) bad(`${k} must be a positive number, got ${v}`);
  }
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0';
}

export class ClusterNode {
  private readonly peers = new Map<number, Peer>();
  private readonly inbound = new Set<Socket>();
  private readonly upCbs: Array<(nodeId: number, reason: NodeUpReason) => void> = [];
  private readonly downCbs: Array<(nodeId: number, reason: string) => void> = [];
  private readonly moduleCbs: Array<(p: ModulePacketEvent) => void> = [];
  private readonly counters: ClusterNodeStats = {
    packetsIn: 0,
    modulePackets: 0,
    undecodable: 0,
    brokenStreams: 0,
    foreign: 0,
    notForUs: 0,
    syncRequests: 0,
    ignored: 0,
  };
  private readonly loggedOnce = new Set<string>();
  private readonly pingIntervalMs: number;
  private readonly downAfterMs: number;
  private readonly maxBufferedBytes: number;
  private readonly log: LogFn;
  private readonly localAddress: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private capSeq = 0;
  private stopped = false;

  private constructor(
    private readonly o: ClusterNodeOptions,
    private readonly server: Server,
    readonly port: number,
  ) {
    this.pingIntervalMs = o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.downAfterMs = o.downAfterMs ?? DEFAULT_DOWN_AFTER_MS;
    this.maxBufferedBytes = o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.log = o.log ?? ((): void => undefined);
    // OpenSIPS checks the source IP of what it receives against the node's url: send from the
    // listen address when it is a specific one.
    this.localAddress = isIP(o.listen.host) !== 0 && !isUnspecified(o.listen.host) ? o.listen.host : undefined;
    const now = Date.now();
    for (const n of o.nodes) {
      this.peers.set(n.nodeId, {
        nodeId: n.nodeId,
        host: n.host,
        port: n.port,
        url: `bin:${n.host}:${n.port}`,
        up: false,
        since: now,
        lastHeardAt: null,
        lastHeardMono: 0,
        ups: 0,
        downs: 0,
        lastDownReason: null,
        capabilities: new Map(),
        sock: undefined,
        lastConnectError: null,
        gotPong: false,
        gotPing: false,
        capSent: false,
        gotCapAfterSend: false,
        linkUpAtNode: false,
        pingsSent: 0,
        pongsSeen: 0,
        barriers: [],
        writeSeq: 0,
        flushedSeq: 0,
        waiters: [],
      });
    }
  }

  /** Listens on the bin socket, connects to every node and starts pinging. */
  static async start(o: ClusterNodeOptions): Promise<ClusterNode> {
    validate(o);
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      const onError = (e: Error): void => {
        const code = (e as NodeJS.ErrnoException).code;
        const hint =
          code === 'EADDRINUSE'
            ? 'another process (an OpenSIPS bin socket, another ulbridge) holds it: stop it or choose another port'
            : code === 'EADDRNOTAVAIL'
              ? 'the address is not one of this host: use an address of this host'
              : code === 'EACCES'
                ? 'no permission: use a port above 1023'
                : 'check the address and port';
        reject(
          nodeError(
            CLUSTER_LISTEN_FAILED,
            `cannot listen on the cluster bin socket ${o.listen.host}:${o.listen.port}: ${e.message}; ${hint}. ` +
              `The registrars must reach ulbridge's node ${o.nodeId} at that url (their neighbor_node_info / clusterer table)`,
            e,
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: o.listen.host, port: o.listen.port }, () => {
        server.off('error', onError);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : o.listen.port);
      });
    });
    const node = new ClusterNode(o, server, port);
    server.on('error', (e) => node.log('warn', 'cluster bin socket error', { error: e.message }));
    server.on('connection', (s) => node.accept(s));
    node.log('info', 'cluster node listening', {
      url: `bin:${o.listen.host}:${port}`,
      clusterId: o.clusterId,
      nodeId: o.nodeId,
      nodes: o.nodes.map((n) => n.nodeId),
    });
    node.tick();
    // The round runs in the check phase, after the poll phase of the same loop turn: when the event
    // loop was blocked (a long synchronous job, GC), the packets that arrived meanwhile are read
    // before silence is judged, so a busy ulbridge does not declare a talking registrar down.
    node.timer = setInterval(() => setImmediate(() => node.tick()), node.pingIntervalMs);
    return node;
  }

  status(): NodeStatus[] {
    return [...this.peers.values()].map((p) => ({
      nodeId: p.nodeId,
      url: p.url,
      up: p.up,
      since: p.since,
      lastHeardAt: p.lastHeardAt,
      ups: p.ups,
      downs: p.downs,
      lastDownReason: p.lastDownReason,
      capabilities: Object.fromEntries(p.capabilities),
      buffered: p.sock?.writableLength ?? 0,
      linkUpAtNode: p.linkUpAtNode,
    }));
  }

  stats(): ClusterNodeStats {
    return { ...this.counters };
  }

  isUp(nodeId: number): boolean {
    return this.peers.get(nodeId)?.up ?? false;
  }

  /**
   * Called at every down -> up transition of a node (the first one included), once the node is
   * ready to accept module packets from us; and, with reason 'sync-request', when an up node
   * asked us for a sync. Either way: replay the state to that node.
   */
  onNodeUp(cb: (nodeId: number, reason: NodeUpReason) => void): void {
    this.upCbs.push(cb);
  }

  onNodeDown(cb: (nodeId: number, reason: string) => void): void {
    this.downCbs.push(cb);
  }

  /** Module packets (e.g. the registrar's own usrloc replication) addressed to us by a configured node. */
  onModulePacket(cb: (p: ModulePacketEvent) => void): void {
    this.moduleCbs.push(cb);
  }

  /**
   * Writes one whole BIN packet to that node. Returns false (and sends nothing) if the node is not
   * up, or if its socket already holds more than maxBufferedBytes unsent (the node is then marked
   * down). Packets to one node are written in call order on one TCP connection. A long replay
   * must await drain() every so often (e.g. every few thousand packets): send() never waits, and
   * a node whose socket holds more than maxBufferedBytes is marked down, not queued for.
   */
  send(nodeId: number, bytes: Buffer): boolean {
    const p = this.peers.get(nodeId);
    if (!p || !p.up || !p.sock || this.stopped) return false;
    if (p.sock.writableLength + bytes.length > this.maxBufferedBytes) {
      this.markDown(
        p,
        `${p.sock.writableLength} bytes wait unsent on the connection (limit ${this.maxBufferedBytes}): the node does not read fast enough`,
      );
      return false;
    }
    this.write(p, bytes);
    return true;
  }

  /**
   * Resolves when everything written so far to that node has been flushed to the socket, or the
   * connection is gone (then the node is down and the unflushed packets are lost: onNodeDown has
   * fired or is about to). Never rejects.
   */
  drain(nodeId: number): Promise<void> {
    const p = this.peers.get(nodeId);
    if (!p || !p.sock || p.flushedSeq >= p.writeSeq) return Promise.resolve();
    const seq = p.writeSeq;
    return new Promise<void>((resolve) => p.waiters.push({ seq, resolve }));
  }

  /**
   * Back-pressure on the registrar itself (drain() only covers ulbridge's socket): sends a PING
   * behind everything written so far and resolves true once the node has answered as many PINGs
   * as were written on this connection, i.e. it has read (and handed to its workers) the packets
   * before it. Resolves false after timeoutMs (default downAfterMs), or when the node is or goes
   * down. Best effort: PONGs carry no sequence number. A long replay should await it every few
   * hundred packets: OpenSIPS 4.0 drops a BIN message and resets the connection when its worker
   * queue is full ("failed to dispatch TCP message to worker socket", docs/cluster-protocol.md §8).
   */
  barrier(nodeId: number, timeoutMs = this.downAfterMs): Promise<boolean> {
    const p = this.peers.get(nodeId);
    if (!p || !p.up || !p.sock || this.stopped) return Promise.resolve(false);
    this.sendPing(p);
    const target = p.pingsSent;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        // PINGs the node never answered (dropped, or it stopped answering) would otherwise keep
        // every later barrier short of its count for good: count every PING sent so far as answered
        // (a late answer is then ignored; at worst one in flight lets a later barrier pass early).
        p.pongsSeen = p.pingsSent;
        finish(false);
      }, timeoutMs);
      const entry = { target, done: (ok: boolean): void => finish(ok) };
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        const i = p.barriers.indexOf(entry);
        if (i >= 0) p.barriers.splice(i, 1);
        resolve(ok);
      };
      p.barriers.push(entry);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.peers.values()) {
      const s = p.sock;
      p.sock = undefined;
      p.up = false;
      this.releaseWaiters(p);
      s?.destroy();
    }
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- timer ---------------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    for (const p of this.peers.values()) {
      try {
        const silent = performance.now() - p.lastHeardMono;
        if (p.up && silent > this.downAfterMs) {
          this.markDown(p, `nothing heard for ${Math.round(silent)} ms (down after ${this.downAfterMs} ms)`);
        } else if (!p.up && p.lastHeardMono > 0 && silent > this.downAfterMs) {
          this.resetHandshake(p); // a half-done handshake that went quiet starts over
        }
        this.sendPing(p);
        if (!p.up && p.gotPong && !p.gotCapAfterSend) this.sendCapUpdate(p, 1);
      } catch (e) {
        this.log('warn', 'cluster node: ping round failed', { nodeId: p.nodeId, error: (e as Error).message });
      }
    }
  }

  // ---- connections ---------------------------------------------------------------------------

  private connect(p: Peer): Socket {
    const s = createConnection({
      host: p.host,
      port: p.port,
      ...(this.localAddress && (isIP(p.host) === 0 || isIP(p.host) === isIP(this.localAddress)) ? { localAddress: this.localAddress } : {}),
    });
    s.setNoDelay(true);
    p.sock = s;
    p.writeSeq = 0;
    p.flushedSeq = 0;
    p.pingsSent = 0;
    p.pongsSeen = 0;
    const splitter = new BinStreamSplitter();
    let error: string | undefined;
    s.on('connect', () => {
      if (p.lastConnectError !== null) this.log('info', 'cluster node: connected', { nodeId: p.nodeId, url: p.url });
      p.lastConnectError = null;
    });
    s.on('data', (chunk: Buffer) => this.receive(chunk, splitter, s));
    s.on('error', (e) => {
      error = e.message;
    });
    s.on('close', () => this.outboundClosed(p, s, error));
    return s;
  }

  private outboundClosed(p: Peer, s: Socket, error: string | undefined): void {
    if (p.sock !== s) return; // replaced or dropped on purpose (markDown, stop)
    p.sock = undefined;
    this.releaseWaiters(p);
    if (this.stopped) return;
    if (p.up) {
      this.markDown(p, `connection to ${p.url} closed${error ? `: ${error}` : ' by the node'}`);
    } else {
      this.resetHandshake(p);
      const why = error ?? 'closed by the node';
      if (p.lastConnectError !== why) {
        this.log('warn', 'cluster node: no connection to node (retrying every ping interval)', {
          nodeId: p.nodeId,
          url: p.url,
          error: why,
        });
        p.lastConnectError = why;
      }
    }
  }

  private accept(s: Socket): void {
    if (this.stopped) {
      s.destroy();
      return;
    }
    this.inbound.add(s);
    s.setNoDelay(true);
    const splitter = new BinStreamSplitter();
    s.on('data', (chunk: Buffer) => this.receive(chunk, splitter, s));
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => this.inbound.delete(s));
  }

  private write(p: Peer, bytes: Buffer): void {
    const s = p.sock ?? this.connect(p);
    const seq = ++p.writeSeq;
    s.write(bytes, () => {
      if (p.sock !== s) return;
      p.flushedSeq = seq;
      if (p.waiters.length > 0 && p.waiters[0]!.seq <= seq) {
        const ready = p.waiters.filter((w) => w.seq <= seq);
        p.waiters = p.waiters.filter((w) => w.seq > seq);
        for (const w of ready) w.resolve();
      }
    });
  }

  /** The connection is gone (or replaced): drain() waiters resolve, barrier() waiters fail. */
  private releaseWaiters(p: Peer): void {
    const ws = p.waiters;
    p.waiters = [];
    for (const w of ws) w.resolve();
    for (const b of [...p.barriers]) b.done(false);
  }

  // ---- state ---------------------------------------------------------------------------------

  private resetHandshake(p: Peer): void {
    p.gotPong = false;
    p.gotPing = false;
    p.capSent = false;
    p.gotCapAfterSend = false;
    p.linkUpAtNode = false;
  }

  private markDown(p: Peer, reason: string): void {
    if (!p.up) return;
    p.up = false;
    p.since = Date.now();
    p.downs++;
    p.lastDownReason = reason;
    this.resetHandshake(p);
    const s = p.sock;
    p.sock = undefined; // a fresh connection on the next ping round: packets after the next up never share a socket with the lost ones
    this.releaseWaiters(p);
    s?.destroy();
    this.log('warn', 'cluster node down', { nodeId: p.nodeId, url: p.url, reason });
    for (const cb of this.downCbs) this.safely('onNodeDown', () => cb(p.nodeId, reason));
  }

  private maybeUp(p: Peer): void {
    if (p.up || !p.gotPong || !p.gotPing || !p.gotCapAfterSend || !p.sock || p.sock.connecting) return;
    p.up = true;
    const now = Date.now();
    const downFor = now - p.since;
    p.since = now;
    p.ups++;
    this.log('info', 'cluster node up', { nodeId: p.nodeId, url: p.url, ups: p.ups, downForMs: downFor });
    for (const cb of this.upCbs) this.safely('onNodeUp', () => cb(p.nodeId, 'up'));
  }

  private heard(p: Peer): void {
    p.lastHeardAt = Date.now();
    p.lastHeardMono = performance.now();
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log('warn', `cluster node: ${what} callback threw`, { error: (e as Error).message });
    }
  }

  private once(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.loggedOnce.has(key)) return;
    this.loggedOnce.add(key);
    this.log('warn', msg, fields);
  }

  // ---- sending -------------------------------------------------------------------------------

  private sendInternal(p: Peer, message: InternalPacket['message']): void {
    this.write(p, encodeInternal({ clusterId: this.o.clusterId, sourceId: this.o.nodeId, message }));
  }

  private sendPing(p: Peer): void {
    this.sendInternal(p, { type: 'PING', requestNodeList: 0 });
    p.pingsSent++;
  }

  private sendExtra(p: Peer, message: ExtraPacket['message']): void {
    this.write(p, encodeExtra({ message, trailer: { clusterId: this.o.clusterId, sourceId: this.o.nodeId, destId: p.nodeId } }));
  }

  /** CAP_UPDATE as send_cap_update() builds it, with our capabilities only. */
  private sendCapUpdate(p: Peer, requireReply: number): void {
    // The receiver drops a CAP_UPDATE whose seq_no is not above the last one it took from this
    // node id (validate_update(), node_info.h), and never forgets that number. Seconds since the
    // epoch keep the sequence increasing across ulbridge restarts (int32 until 2038).
    this.capSeq = Math.min(INT32_MAX, Math.max(this.capSeq + 1, Math.floor(Date.now() / 1000)));
    this.sendInternal(p, {
      type: 'CAP_UPDATE',
      seqNo: this.capSeq,
      timestamp: Math.floor(Date.now() / 1000),
      nodes: [{ nodeId: this.o.nodeId, capabilities: this.o.capabilities.map((name) => ({ name, state: 1 })) }],
      requireReply,
      path: [this.o.nodeId],
    });
    if (requireReply) p.capSent = true;
  }

  // ---- receiving -----------------------------------------------------------------------------

  private receive(chunk: Buffer, splitter: BinStreamSplitter, s: Socket): void {
    let packets: Buffer[];
    try {
      packets = splitter.push(chunk);
    } catch (e) {
      this.counters.brokenStreams++;
      this.log('warn', 'cluster node: a connection carries no BIN packets; closing it', {
        remote: `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`,
        error: (e as Error).message,
      });
      s.destroy();
      return;
    }
    for (const bytes of packets) {
      if (this.stopped) return;
      this.counters.packetsIn++;
      try {
        this.handle(bytes);
      } catch (e) {
        this.log('warn', 'cluster node: failed to handle a packet', { error: (e as Error).message });
      }
    }
  }

  private handle(bytes: Buffer): void {
    let pk: AnyPacket;
    try {
      pk = decodeClusterPacket(bytes);
    } catch (e) {
      this.counters.undecodable++;
      if (this.counters.undecodable <= 10 || this.counters.undecodable % 1000 === 0) {
        this.log('warn', 'cluster node: undecodable packet ignored', {
          error: (e as Error).message,
          bytes: bytes.length,
          count: this.counters.undecodable,
        });
      }
      return;
    }
    const clusterId = pk.kind === 'internal' ? pk.clusterId : pk.trailer.clusterId;
    const sourceId = pk.kind === 'internal' ? pk.sourceId : pk.trailer.sourceId;
    const p = clusterId === this.o.clusterId ? this.peers.get(sourceId) : undefined;
    if (!p) {
      this.counters.foreign++;
      this.once(`foreign:${clusterId}:${sourceId}`, 'cluster node: ignoring packets of a cluster or node id that is not configured', {
        clusterId,
        sourceId,
        configuredCluster: this.o.clusterId,
        configuredNodes: [...this.peers.keys()],
      });
      return;
    }
    this.heard(p);
    if (pk.kind === 'internal') {
      this.handleInternal(p, pk.message);
      return;
    }
    if (pk.trailer.destId !== this.o.nodeId) {
      this.counters.notForUs++;
      this.once(`dest:${sourceId}:${pk.trailer.destId}`, 'cluster node: ignoring packets for another node (ulbridge does not route)', {
        sourceId,
        destId: pk.trailer.destId,
      });
      return;
    }
    if (pk.kind === 'extra') {
      this.handleExtra(p, pk.message);
      return;
    }
    this.counters.modulePackets++;
    const ev: ModulePacketEvent = { capability: pk.capability, version: pk.version, type: pk.type, sourceId, bytes };
    for (const cb of this.moduleCbs) this.safely('onModulePacket', () => cb(ev));
  }

  private handleInternal(p: Peer, m: InternalPacket['message']): void {
    switch (m.type) {
      case 'PING':
        p.gotPing = true;
        this.sendInternal(p, { type: 'PONG', nodes: [] });
        this.maybeUp(p);
        return;
      case 'PONG':
        p.gotPong = true;
        // A late answer to a PING already given up on (a barrier timed out) counts for nothing.
        p.pongsSeen = Math.min(p.pongsSeen + 1, p.pingsSent);
        for (const b of p.barriers.filter((x) => x.target <= p.pongsSeen)) b.done(true);
        if (!p.capSent) this.sendCapUpdate(p, 1);
        this.maybeUp(p);
        return;
      case 'CAP_UPDATE':
        for (const n of m.nodes) {
          if (n.nodeId !== p.nodeId) continue;
          for (const c of n.capabilities) p.capabilities.set(c.name, c.state);
        }
        if (p.capSent) p.gotCapAfterSend = true;
        if (m.requireReply) {
          p.linkUpAtNode = true;
          this.sendCapUpdate(p, 0);
        }
        this.maybeUp(p);
        return;
      case 'UNKNOWN_ID':
        this.once(
          `unknown-id:${p.nodeId}`,
          `cluster node: node ${p.nodeId} does not know ulbridge's node id ${this.o.nodeId}: add it to that registrar's clusterer ` +
            `configuration (neighbor_node_info "cluster_id=${this.o.clusterId},node_id=${this.o.nodeId},url=bin:<ulbridge address>:${this.port}" or its clusterer table)`,
          { nodeId: p.nodeId },
        );
        this.counters.ignored++;
        return;
      default:
        // LS_UPDATE, FULL_TOP_UPDATE, NODE_DESCRIPTION: ulbridge is a leaf; it neither routes nor floods.
        if (m.type === 'FULL_TOP_UPDATE') p.linkUpAtNode = true;
        this.counters.ignored++;
    }
  }

  private handleExtra(p: Peer, m: ExtraPacket['message']): void {
    if (m.type !== 'SYNC_REQ') {
      this.counters.ignored++;
      return;
    }
    this.counters.syncRequests++;
    if (!this.o.capabilities.includes(m.capability)) {
      this.log('warn', 'cluster node: sync request for a capability ulbridge does not announce, ignored', {
        nodeId: p.nodeId,
        capability: m.capability,
      });
      return;
    }
    // Not a donor: an empty sync. SYNC_END with 0 chunks completes the requester's sync at once
    // (handle_sync_packet() -> handle_sync_end(), modules/clusterer/sync.c); the caller replays.
    this.sendExtra(p, { type: 'SYNC_END', capability: m.capability, chunkCount: 0 });
    this.log('info', 'cluster node: sync request answered with an empty sync', { nodeId: p.nodeId, capability: m.capability, up: p.up });
    // A node that is not up yet gets its replay from the coming up transition.
    if (p.up) for (const cb of this.upCbs) this.safely('onNodeUp', () => cb(p.nodeId, 'sync-request'));
  }
}
