import { ClusterNode } from '../cluster/node.js';
import { encodeUsrlocPacket, USRLOC_CAPABILITY, usrlocVersionForRelease, type UsrlocMessage } from '../cluster/usrloc/index.js';
import type { DbConnection } from '../db/connection.js';
import { openDb } from '../db/open.js';
import { parseTableName } from '../db/table.js';
import type { ClusterConfig } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import { rowImageSelectList, toRowImage, type RowChange } from '../project/rowImage.js';
import type { Target } from '../project/target.js';
import { targetError } from '../project/targetStore.js';
import { DeleteJournal } from './deleteJournal.js';
import { packetsFor, type PacketOptions } from './packets.js';
import { ensurePushState, writePushState, type PushNodeRow } from './pushState.js';

export interface ClusterPushOptions {
  target: Target;
  cluster: ClusterConfig;
  logger: Logger;
  metrics: Metrics;
  /** How often each node's state is written for `ulbridge status` (default 2 s). */
  stateIntervalMs?: number;
  /** Deletes kept for replays to a node that comes back (default 30 min, at most 200,000). */
  journalMs?: number;
  journalMax?: number;
}

/** Rows read per round trip when the table is replayed to a node. */
const REPLAY_PAGE = 2000;
/**
 * Packets written to a node between two barriers (a PING the node must answer): OpenSIPS 4.0 drops
 * BIN messages and resets the connection when its workers fall behind, and every 1,000 packets was
 * not enough on 4.0.1 (docs/cluster-protocol.md §8).
 */
const BARRIER_EVERY = 100;
/** A node whose queue holds more packets than this is given a replay instead (the table is newer). */
const MAX_QUEUED_PACKETS = 200_000;

/** Work for one node, done in order: changes of committed batches, or the whole table. */
type Job = { kind: 'changes'; messages: UsrlocMessage[]; sourceTimesMs: number[] } | { kind: 'replay' };

interface NodeState {
  nodeId: number;
  url: string;
  up: boolean;
  sinceMs: number;
  /** Up transitions so far; a pump or replay of an earlier one stops when it changes. */
  ups: number;
  queue: Job[];
  queuedPackets: number;
  pumping: boolean;
  replaying: boolean;
  pushedAtMs: number | null;
  latencyMs: number | null;
}

/** A node's way of taking packets: write, and a barrier (true once it has read all written before). */
interface Sender {
  send(nodeId: number, bytes: Buffer): boolean;
  barrier(nodeId: number): Promise<boolean>;
}

/**
 * ulbridge as a node of a target's registrar cluster (targets[].cluster, docs/cluster-push.md):
 * after each commit of the projection, the rows it wrote and deleted go to every registrar that
 * is up, as the usrloc replication packets a registrar of that release would have sent. A node
 * that comes up (the first time, or back after a restart or an outage) is sent every delete of
 * the journal and then every row of the table before any new change, so it holds the table
 * whatever it missed; changes committed meanwhile wait in its queue and follow, in order. Each node
 * has one queue worked by one pump, paced by barriers (pump()); a node too far behind gets a replay.
 */
export class ClusterPush {
  private readonly nodes = new Map<number, NodeState>();
  private readonly journal: DeleteJournal;
  private readonly packetOptions: PacketOptions;
  private readonly unmappedFlags = new Set<string>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly o: ClusterPushOptions,
    private readonly node: ClusterNode,
    private readonly stateDb: DbConnection,
  ) {
    const table = parseTableName(o.target.table).name;
    this.packetOptions = {
      version: usrlocVersionForRelease(o.cluster.opensips),
      domain: o.cluster.domain ?? table,
      useDomain: o.target.useDomain,
      ...(o.cluster.branchFlags ? { branchFlags: o.cluster.branchFlags } : {}),
    };
    this.log = o.logger.child({ stage: 'push', target: o.target.name });
    this.journal = new DeleteJournal(o.journalMs ?? 30 * 60_000, o.journalMax ?? 200_000);
    for (const n of o.cluster.nodes) {
      this.nodes.set(n.nodeId, {
        nodeId: n.nodeId,
        url: n.url,
        up: false,
        sinceMs: Date.now(),
        ups: 0,
        queue: [],
        queuedPackets: 0,
        pumping: false,
        replaying: false,
        pushedAtMs: null,
        latencyMs: null,
      });
    }
  }

  static async start(o: ClusterPushOptions): Promise<ClusterPush> {
    const stateDb = await openDb(o.target.db);
    try {
      await ensurePushState(stateDb, o.target.stateSchema);
    } catch (e) {
      await stateDb.close();
      throw e;
    }
    const listen = hostPort(o.cluster.listen);
    let node: ClusterNode;
    try {
      node = await ClusterNode.start({
        clusterId: o.cluster.clusterId,
        nodeId: o.cluster.nodeId,
        listen,
        nodes: o.cluster.nodes.map((n) => ({ nodeId: n.nodeId, ...hostPort(n.url) })),
        capabilities: [USRLOC_CAPABILITY],
        pingIntervalMs: o.cluster.pingIntervalMs,
        downAfterMs: o.cluster.downAfterMs,
        log: (level, msg, fields) => o.logger.child({ stage: 'push', target: o.target.name })[level](fields ?? {}, msg),
      });
    } catch (e) {
      await stateDb.close();
      throw targetError(o.target, e);
    }
    const push = new ClusterPush(o, node, stateDb);
    node.onNodeUp((id) => push.nodeUp(id));
    node.onNodeDown((id, reason) => push.nodeDown(id, reason));
    node.onModulePacket((p) => {
      o.metrics.pushReceived.inc({ target: o.target.name, node: String(p.sourceId), capability: p.capability });
    });
    push.timer = setInterval(() => push.saveState(), o.stateIntervalMs ?? 2000);
    push.saveState();
    push.log.info(
      { listen: o.cluster.listen, nodes: o.cluster.nodes.map((n) => n.url), usrlocVersion: push.packetOptions.version },
      'cluster push started',
    );
    return push;
  }

  /** The rows one committed batch wrote (BatchResult.changes) and the source times of its events. */
  push(changes: RowChange[], sourceTimesMs: number[]): void {
    if (changes.length === 0 || this.stopped) return;
    const messages: UsrlocMessage[] = [];
    for (const c of changes) messages.push(...packetsFor(c, this.packetOptions, this.unmappedFlags));
    this.warnUnmappedFlags();
    const deletes = messages.filter((m) => m.type === 'UCONTACT_DELETE');
    this.journal.add(deletes);
    for (const n of this.nodes.values()) {
      if (!n.up) {
        this.o.metrics.pushSkipped.inc({ target: this.o.target.name, node: String(n.nodeId) }, messages.length);
        continue;
      }
      if (n.queuedPackets + messages.length > MAX_QUEUED_PACKETS) {
        // Too far behind: what it waits for is older than the table; send it the table instead.
        this.log.warn({ node: n.nodeId, queued: n.queuedPackets }, 'registrar node too far behind: replaying the table to it instead');
        n.queue = [{ kind: 'replay' }];
        n.queuedPackets = 0;
      } else {
        n.queue.push({ kind: 'changes', messages, sourceTimesMs });
        n.queuedPackets += messages.length;
      }
      this.pump(n);
    }
  }

  private warnUnmappedFlags(): void {
    if (this.unmappedFlags.size === 0) return;
    this.log.warn(
      { flags: [...this.unmappedFlags] },
      'branch flags not in targets[].cluster.branchFlags were left out of the packets (OpenSIPS 3.4/3.5 carry a bitmask): add them there',
    );
    this.unmappedFlags.clear();
  }

  /**
   * Works through a node's queue, one job at a time, while the node stays up. Packets go out through
   * a paced writer: a barrier every BARRIER_EVERY packets, and one between a delete and a write
   * (either way round), because a registrar hands one connection's packets to several workers and a
   * delete that overtakes the write of the same contact (or the other way round) would be lost.
   */
  private pump(n: NodeState): void {
    if (n.pumping) return;
    n.pumping = true;
    const ups = n.ups;
    const current = (): boolean => n.up && n.ups === ups && !this.stopped;
    void (async () => {
      const out = this.pacedWriter(n.nodeId);
      let ok = true;
      try {
        while (ok && current() && n.queue.length > 0) {
          const job = n.queue.shift()!;
          if (job.kind === 'replay') {
            ok = await this.replay(n, out, current);
            continue;
          }
          n.queuedPackets -= job.messages.length;
          for (const m of job.messages) {
            ok = await out.write(m);
            if (!ok) break;
          }
          if (ok) ok = await out.flush();
          if (ok) this.observe(n, job.sourceTimesMs);
        }
      } catch (e) {
        ok = false;
        this.log.error({ node: n.nodeId, err: e }, 'push to the registrar node failed');
      } finally {
        n.pumping = false;
        if (!ok && current()) {
          // Up, but it did not confirm what it was sent (no answer to a barrier within downAfterMs,
          // or the replay's read failed): what it holds is unknown, so it gets the table again.
          this.log.warn(
            { node: n.nodeId, url: n.url },
            'registrar node did not confirm the packets sent: replaying the table to it in 1 s',
          );
          n.queue = [{ kind: 'replay' }];
          n.queuedPackets = 0;
          setTimeout(() => this.pump(n), 1000).unref();
        } else if (n.up && n.ups !== ups && n.queue.length > 0) this.pump(n); // queued by a newer up transition
      }
    })();
  }

  /** Writes messages to one node with barriers (see pump); false once the node is gone. */
  private pacedWriter(nodeId: number): { write(m: UsrlocMessage): Promise<boolean>; flush(): Promise<boolean> } {
    const sender: Sender = this.node;
    const trailer = { clusterId: this.o.cluster.clusterId, sourceId: this.o.cluster.nodeId, destId: nodeId };
    let unconfirmed = 0;
    let lastWasDelete: boolean | null = null;
    const flush = async (): Promise<boolean> => {
      if (unconfirmed === 0) return true;
      unconfirmed = 0;
      return sender.barrier(nodeId);
    };
    return {
      flush,
      write: async (message) => {
        const isDelete = message.type === 'UCONTACT_DELETE';
        if (unconfirmed >= BARRIER_EVERY || (lastWasDelete !== null && isDelete !== lastWasDelete && unconfirmed > 0)) {
          if (!(await flush())) return false;
        }
        lastWasDelete = isDelete;
        if (!sender.send(nodeId, encodeUsrlocPacket({ version: this.packetOptions.version, message, trailer }))) return false;
        unconfirmed++;
        this.o.metrics.pushPackets.inc({ target: this.o.target.name, node: String(nodeId), type: message.type });
        return true;
      },
    };
  }

  /** Latency: from the source change to the registrar having read its packets (the barrier after them). */
  private observe(n: NodeState, sourceTimesMs: number[]): void {
    const now = Date.now();
    n.pushedAtMs = now;
    if (sourceTimesMs.length === 0) return;
    let worst = 0;
    for (const t of sourceTimesMs) {
      const s = Math.max(0, now - t) / 1000;
      worst = Math.max(worst, s);
      this.o.metrics.pushLatency.observe({ target: this.o.target.name, node: String(n.nodeId) }, s);
    }
    n.latencyMs = Math.round(worst * 1000);
  }

  private nodeUp(nodeId: number): void {
    const n = this.nodes.get(nodeId);
    if (!n || this.stopped) return;
    n.up = true;
    n.sinceMs = Date.now();
    n.ups++;
    // Whatever was queued is in the table: the replay covers it, then new changes follow it.
    n.queue = [{ kind: 'replay' }];
    n.queuedPackets = 0;
    this.o.metrics.pushNodeUp.set({ target: this.o.target.name, node: String(nodeId) }, 1);
    this.log.info({ node: nodeId, url: n.url }, 'registrar node up: replaying the table to it');
    this.pump(n);
  }

  private nodeDown(nodeId: number, reason: string): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    if (n.up) this.log.warn({ node: nodeId, url: n.url, reason }, 'registrar node down: it gets the table again when it is back');
    n.up = false;
    n.queue = [];
    n.queuedPackets = 0;
    n.sinceMs = Date.now();
    this.o.metrics.pushNodeUp.set({ target: this.o.target.name, node: String(nodeId) }, 0);
  }

  /** The journal's deletes, then every row of the table; false when the node went away meanwhile. */
  private async replay(
    n: NodeState,
    out: { write(m: UsrlocMessage): Promise<boolean>; flush(): Promise<boolean> },
    current: () => boolean,
  ): Promise<boolean> {
    const started = Date.now();
    n.replaying = true;
    this.saveState();
    let rows = 0;
    let db: DbConnection | null = null;
    try {
      for (const m of this.journal.messages()) if (!(await out.write(m))) return false;
      db = await openDb(this.o.target.db);
      const t = this.o.target;
      const sql = `SELECT ${rowImageSelectList(db.dialect, t)} FROM ${db.dialect.table(parseTableName(t.table))}`;
      for await (const page of db.stream<Record<string, unknown>>(sql, [], REPLAY_PAGE)) {
        if (!current()) return false;
        for (const r of page) {
          // UCONTACT_UPDATE: creates what the node lacks with exactly this id, and wins over a same-CSeq copy.
          for (const m of packetsFor({ op: 'update', row: toRowImage(r, t) }, this.packetOptions, this.unmappedFlags)) {
            if (!(await out.write(m))) return false;
          }
        }
        rows += page.length;
      }
      if (!(await out.flush())) return false;
      this.warnUnmappedFlags();
      this.o.metrics.pushReplays.inc({ target: this.o.target.name, node: String(n.nodeId) });
      this.log.info({ node: n.nodeId, rows, ms: Date.now() - started }, 'table replayed to the registrar node');
      return true;
    } finally {
      n.replaying = false;
      await db?.close().catch(() => undefined);
      this.saveState();
    }
  }

  /** Each node's state, as `ulbridge status` reads it. */
  rows(): PushNodeRow[] {
    const now = Date.now();
    return [...this.nodes.values()].map((n) => ({
      nodeId: n.nodeId,
      url: n.url,
      up: n.up,
      sinceMs: n.sinceMs,
      ups: n.ups,
      replaying: n.up && (n.replaying || n.queue.some((j) => j.kind === 'replay')),
      pushedAtMs: n.pushedAtMs,
      latencyMs: n.latencyMs,
      updatedAtMs: now,
    }));
  }

  private saveState(): void {
    if (this.stopped) return;
    writePushState(this.stateDb, this.o.target.stateSchema, this.rows()).catch((e: unknown) =>
      this.log.warn({ err: e }, 'could not record the push state for ulbridge status'),
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.node.stop();
    await this.stateDb.close();
  }
}

/** "bin:HOST:PORT" (validated by the config schema). */
function hostPort(url: string): { host: string; port: number } {
  const m = /^bin:(.+):(\d+)$/.exec(url)!;
  return { host: m[1]!, port: Number(m[2]) };
}
