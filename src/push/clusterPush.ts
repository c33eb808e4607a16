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

interface NodeState {
  nodeId: number;
  url: string;
  up: boolean;
  sinceMs: number;
  ups: number;
  /** While the table is replayed to the node, live changes wait here (then go out in order). */
  held: UsrlocMessage[][] | null;
  pushedAtMs: number | null;
  latencyMs: number | null;
}

interface JournalEntry {
  atMs: number;
  messages: UsrlocMessage[];
}

/**
 * ulbridge as a node of a target's registrar cluster (targets[].cluster, docs/cluster-push.md):
 * after each commit of the projection, the rows it wrote and deleted go to every registrar that
 * is up, as the usrloc replication packets a registrar of that release would have sent. A node
 * that comes up (the first time, or back after a restart or an outage) is sent every delete of
 * the journal and then every row of the table before any new change, so it holds the table
 * whatever it missed; changes committed meanwhile are held and sent after, in order.
 */
export class ClusterPush {
  private readonly nodes = new Map<number, NodeState>();
  private readonly journal: JournalEntry[] = [];
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
    for (const n of o.cluster.nodes) {
      this.nodes.set(n.nodeId, {
        nodeId: n.nodeId,
        url: n.url,
        up: false,
        sinceMs: Date.now(),
        ups: 0,
        held: null,
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
      throw e;
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
    if (this.unmappedFlags.size > 0) {
      this.log.warn(
        { flags: [...this.unmappedFlags] },
        'branch flags not in targets[].cluster.branchFlags were left out of the packets (OpenSIPS 3.4/3.5 carry a bitmask): add them there',
      );
      this.unmappedFlags.clear();
    }
    const deletes = messages.filter((m) => m.type === 'UCONTACT_DELETE');
    if (deletes.length > 0) this.remember(deletes);
    const sentTo: number[] = [];
    for (const n of this.nodes.values()) {
      if (!n.up) {
        this.o.metrics.pushSkipped.inc({ target: this.o.target.name, node: String(n.nodeId) }, messages.length);
        continue;
      }
      if (n.held) n.held.push(messages);
      else if (this.sendAll(n, messages)) sentTo.push(n.nodeId);
    }
    if (sentTo.length > 0) void this.measure(sentTo, sourceTimesMs);
  }

  /** Latency: from the source change to the packets flushed to every node they went to. */
  private async measure(nodeIds: number[], sourceTimesMs: number[]): Promise<void> {
    try {
      await Promise.all(nodeIds.map((id) => this.node.drain(id)));
    } catch {
      return; // a node that went down meanwhile gets the replay
    }
    const now = Date.now();
    let worst = 0;
    for (const t of sourceTimesMs) {
      const s = Math.max(0, now - t) / 1000;
      worst = Math.max(worst, s);
      this.o.metrics.pushLatency.observe({ target: this.o.target.name }, s);
    }
    for (const id of nodeIds) {
      const n = this.nodes.get(id)!;
      n.pushedAtMs = now;
      if (sourceTimesMs.length > 0) n.latencyMs = Math.round(worst * 1000);
    }
  }

  private sendAll(n: NodeState, messages: UsrlocMessage[]): boolean {
    const trailer = { clusterId: this.o.cluster.clusterId, sourceId: this.o.cluster.nodeId, destId: n.nodeId };
    for (const message of messages) {
      const bytes = encodeUsrlocPacket({ version: this.packetOptions.version, message, trailer });
      if (!this.node.send(n.nodeId, bytes)) return false;
      this.o.metrics.pushPackets.inc({ target: this.o.target.name, node: String(n.nodeId), type: message.type });
    }
    return true;
  }

  private remember(deletes: UsrlocMessage[]): void {
    const now = Date.now();
    this.journal.push({ atMs: now, messages: deletes });
    const horizon = now - (this.o.journalMs ?? 30 * 60_000);
    const max = this.o.journalMax ?? 200_000;
    let total = this.journal.reduce((s, e) => s + e.messages.length, 0);
    while (this.journal.length > 0 && (this.journal[0]!.atMs < horizon || total > max)) total -= this.journal.shift()!.messages.length;
  }

  private nodeUp(nodeId: number): void {
    const n = this.nodes.get(nodeId);
    if (!n || this.stopped) return;
    n.up = true;
    n.sinceMs = Date.now();
    n.ups++;
    n.held = [];
    this.o.metrics.pushNodeUp.set({ target: this.o.target.name, node: String(nodeId) }, 1);
    this.log.info({ node: nodeId, url: n.url }, 'registrar node up: replaying the table to it');
    void this.replay(n);
  }

  private nodeDown(nodeId: number, reason: string): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    if (n.up) this.log.warn({ node: nodeId, url: n.url, reason }, 'registrar node down: it gets the table again when it is back');
    n.up = false;
    n.held = null;
    n.sinceMs = Date.now();
    this.o.metrics.pushNodeUp.set({ target: this.o.target.name, node: String(nodeId) }, 0);
  }

  /** The journal's deletes, then every row of the table, then the changes held meanwhile. */
  private async replay(n: NodeState): Promise<void> {
    const started = Date.now();
    const ups = n.ups;
    const current = (): boolean => n.up && n.ups === ups && !this.stopped;
    let rows = 0;
    let db: DbConnection | null = null;
    try {
      for (const e of this.journal) if (!this.sendAll(n, e.messages)) return;
      db = await openDb(this.o.target.db);
      const t = this.o.target;
      const sql = `SELECT ${rowImageSelectList(db.dialect, t)} FROM ${db.dialect.table(parseTableName(t.table))}`;
      for await (const page of db.stream<Record<string, unknown>>(sql, [], REPLAY_PAGE)) {
        if (!current()) return;
        const messages: UsrlocMessage[] = [];
        for (const r of page) {
          // UCONTACT_UPDATE: creates what the node lacks with exactly this id, and wins over a same-CSeq copy.
          const row = toRowImage(r, t);
          messages.push(...packetsFor({ op: 'update', row }, this.packetOptions, this.unmappedFlags));
        }
        if (!this.sendAll(n, messages)) return;
        rows += page.length;
        await this.node.drain(n.nodeId);
      }
      if (!current()) return;
      const held = n.held ?? [];
      n.held = null;
      for (const messages of held) if (!this.sendAll(n, messages)) return;
      this.o.metrics.pushReplays.inc({ target: this.o.target.name, node: String(n.nodeId) });
      this.log.info({ node: n.nodeId, rows, heldBatches: held.length, ms: Date.now() - started }, 'table replayed to the registrar node');
    } catch (e) {
      this.log.error(
        { node: n.nodeId, err: e },
        'replay to the registrar node failed: marking it down, it gets the table again when it is back',
      );
      this.nodeDown(n.nodeId, 'replay failed');
    } finally {
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
      replaying: n.held !== null,
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
