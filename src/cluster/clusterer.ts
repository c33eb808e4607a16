/**
 * The clusterer module's own packets (modules/clusterer/, wire-identical in 3.4, 3.5 and 3.6; 4.0
 * adds the inter-cluster bridge trailer) and the envelope it puts around every module packet.
 *
 * Three kinds of BIN packets travel between cluster nodes:
 * - "clusterer-internal" (BIN_VERSION 1): node protocol. Body starts with int cluster_id, int
 *   source node id; no trailer. PING, PONG, LS_UPDATE, FULL_TOP_UPDATE, UNKNOWN_ID,
 *   NODE_DESCRIPTION, CAP_UPDATE.
 * - "clusterer-extra" (BIN_VERSION 1; sync packets BIN_SYNC_VERSION 3): REMOVE_NODE, GENERIC_MSG,
 *   MI_CMD, SYNC_REQ, SYNC, SYNC_END, SHTAG_ACTIVE. Body ends with the trailer.
 * - a module's capability (e.g. "usrloc-contact-repl", the module's own version): body ends with
 *   the trailer (msg_add_trailer(): int cluster_id, int source node id, int destination node id;
 *   4.0 bridge packets: int source cluster id before it and destination AGG_DST_ID).
 */
import { BinReader, BinWriter, decodeBinPacket, encodeBinPacket, type BinPacket } from './bin.js';
import { malformed, unsupported } from './errors.js';

export const CL_INTERNAL_CAP = 'clusterer-internal';
export const CL_EXTRA_CAP = 'clusterer-extra';
/** clusterer.h BIN_VERSION / BIN_SYNC_VERSION (3.4 - 4.0). */
export const CL_BIN_VERSION = 1;
export const CL_BIN_SYNC_VERSION = 3;
/** sync.h SYNC_CHUNK_START_MARKER. */
export const SYNC_CHUNK_START_MARKER = 101010101;
/** 4.0 clusterer.h AGG_DST_ID (0xC0000000 as a C int). */
export const AGG_DST_ID = 0xc0000000 | 0;

/** clusterer_msg_type (clusterer.h), in order from 0. */
export const ClustererMsg = {
  PING: 0,
  PONG: 1,
  LS_UPDATE: 2,
  FULL_TOP_UPDATE: 3,
  UNKNOWN_ID: 4,
  NODE_DESCRIPTION: 5,
  REMOVE_NODE: 6,
  GENERIC_MSG: 7,
  MI_CMD: 8,
  CAP_UPDATE: 9,
  SYNC_REQ: 10,
  SYNC: 11,
  SYNC_END: 12,
  SHTAG_ACTIVE: 13,
} as const;
export type ClustererMsgName = keyof typeof ClustererMsg;
const MSG_NAMES = Object.fromEntries(Object.entries(ClustererMsg).map(([k, v]) => [v, k])) as Record<number, ClustererMsgName>;

/** clusterer_link_state (clusterer.h). */
export const LinkState = { UP: 0, DOWN: 1, RETRY_SEND_FAIL: 2, RESTART_PINGING: 3, RESTARTED: 4, RETRYING: 5, TEMP: 6 } as const;

export interface Trailer {
  clusterId: number;
  sourceId: number;
  destId: number;
  /** Only on 4.0 inter-cluster bridge packets (destId === AGG_DST_ID). */
  srcClusterId?: number;
}

/** Splits the trailer off a module or clusterer-extra packet body (bin_rcv_mod_packets()). */
export function splitTrailer(body: Buffer): { payload: Buffer; trailer: Trailer } {
  if (body.length < 12) throw malformed(`clusterer packet body of ${body.length} bytes cannot hold the 12-byte trailer`);
  let end = body.length;
  const destId = body.readInt32LE(end - 4);
  const sourceId = body.readInt32LE(end - 8);
  const clusterId = body.readInt32LE(end - 12);
  end -= 12;
  const trailer: Trailer = { clusterId, sourceId, destId };
  if (destId === AGG_DST_ID) {
    if (end < 4) throw malformed('clusterer bridge packet lacks its source cluster id');
    trailer.srcClusterId = body.readInt32LE(end - 4);
    end -= 4;
  }
  return { payload: body.subarray(0, end), trailer };
}

export function appendTrailer(payload: Buffer, t: Trailer): Buffer {
  const w = new BinWriter().raw(payload);
  if (t.srcClusterId !== undefined) w.int(t.srcClusterId);
  return w.int(t.clusterId).int(t.sourceId).int(t.destId).toBuffer();
}

export interface NodeDescription {
  url: string;
  sipAddr: string;
  priority: number;
  noPingRetries: number;
}

export interface TopologyNode {
  nodeId: number;
  description?: NodeDescription;
  lsSeqNo: number;
  lsTimestamp: number;
  neighbours: number[];
}

export interface CapabilityState {
  name: string;
  /** 1: the node's copy of the data is usable ("Ok"), 0: not (syncing / disabled). */
  state: number;
}

export type InternalMessage =
  | { type: 'PING'; requestNodeList: number }
  | { type: 'PONG'; nodes: number[] }
  | { type: 'LS_UPDATE'; seqNo: number; timestamp: number; neighbourId: number; linkState: number; path: number[] }
  | { type: 'FULL_TOP_UPDATE'; seqNo: number; timestamp: number; nodes: TopologyNode[]; path: number[] }
  | { type: 'UNKNOWN_ID' }
  | { type: 'NODE_DESCRIPTION'; description: NodeDescription; path: number[] }
  | {
      type: 'CAP_UPDATE';
      seqNo: number;
      timestamp: number;
      nodes: Array<{ nodeId: number; capabilities: CapabilityState[] }>;
      requireReply: number;
      path: number[];
    };

export interface InternalPacket {
  clusterId: number;
  sourceId: number;
  message: InternalMessage;
}

export type ExtraMessage =
  | { type: 'REMOVE_NODE'; targetNode: number }
  | { type: 'GENERIC_MSG'; reqLike: number; tag: string; message: string }
  | { type: 'MI_CMD'; command: string; params: string[] }
  | { type: 'SYNC_REQ'; capability: string }
  /** chunks: each chunk's data (after its size and start marker), to be decoded by the capability's codec. */
  | { type: 'SYNC'; capability: string; dataVersion: number; chunks: Buffer[] }
  | { type: 'SYNC_END'; capability: string; chunkCount: number }
  | { type: 'SHTAG_ACTIVE'; tag: string };

export interface ExtraPacket {
  message: ExtraMessage;
  trailer: Trailer;
}

function checkVersion(p: BinPacket, expected: number, what: string): void {
  if (p.version !== expected) {
    throw unsupported(
      `${what} packet of BIN version ${p.version}; OpenSIPS 3.4-4.0 send version ${expected}. ` +
        'The peer runs an OpenSIPS release ulbridge does not support: check its version (opensips -V) against docs/cluster-protocol.md',
    );
  }
}

function path(r: BinReader): number[] {
  const n = r.int('path_len');
  if (n < 0 || n > 25) throw malformed(`clusterer packet: impossible path length ${n} (UPDATE_MAX_PATH_LEN is 25)`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.int(`path[${i}]`));
  return out;
}

function count(r: BinReader, field: string, max = 1024): number {
  const n = r.int(field);
  if (n < 0 || n > max) throw malformed(`clusterer packet: impossible ${field} ${n}`);
  return n;
}

function description(r: BinReader): NodeDescription {
  return { url: r.str('url'), sipAddr: r.str('sip_addr'), priority: r.int('priority'), noPingRetries: r.int('no_ping_retries') };
}

function writeDescription(w: BinWriter, d: NodeDescription): void {
  w.str(d.url).str(d.sipAddr).int(d.priority).int(d.noPingRetries);
}

function writePath(w: BinWriter, p: number[]): void {
  w.int(p.length);
  for (const n of p) w.int(n);
}

export function decodeInternal(p: BinPacket): InternalPacket {
  if (p.capability !== CL_INTERNAL_CAP) throw malformed(`not a ${CL_INTERNAL_CAP} packet: ${p.capability}`);
  checkVersion(p, CL_BIN_VERSION, CL_INTERNAL_CAP);
  const r = new BinReader(p.body, `${CL_INTERNAL_CAP} ${MSG_NAMES[p.type] ?? p.type}`);
  const clusterId = r.int('cluster_id');
  const sourceId = r.int('source_id');
  let message: InternalMessage;
  switch (p.type) {
    case ClustererMsg.PING:
      message = { type: 'PING', requestNodeList: r.int('req_node_list') };
      break;
    case ClustererMsg.PONG: {
      const n = count(r, 'nr_nodes');
      const nodes: number[] = [];
      for (let i = 0; i < n; i++) nodes.push(r.int(`node[${i}]`));
      message = { type: 'PONG', nodes };
      break;
    }
    case ClustererMsg.LS_UPDATE:
      message = {
        type: 'LS_UPDATE',
        seqNo: r.int('seq_no'),
        timestamp: r.int('timestamp'),
        neighbourId: r.int('neighbour_id'),
        linkState: r.int('link_state'),
        path: path(r),
      };
      break;
    case ClustererMsg.FULL_TOP_UPDATE: {
      const seqNo = r.int('seq_no');
      const timestamp = r.int('timestamp');
      const n = count(r, 'no_nodes');
      const nodes: TopologyNode[] = [];
      for (let i = 0; i < n; i++) {
        const nodeId = r.int('node_id');
        const has = r.int('has_description');
        const node: TopologyNode = { nodeId, lsSeqNo: 0, lsTimestamp: 0, neighbours: [] };
        if (has) node.description = description(r);
        node.lsSeqNo = r.int('ls_seq_no');
        node.lsTimestamp = r.int('ls_timestamp');
        const nn = count(r, 'no_neigh');
        for (let j = 0; j < nn; j++) node.neighbours.push(r.int('neighbour'));
        nodes.push(node);
      }
      message = { type: 'FULL_TOP_UPDATE', seqNo, timestamp, nodes, path: path(r) };
      break;
    }
    case ClustererMsg.UNKNOWN_ID:
      message = { type: 'UNKNOWN_ID' };
      break;
    case ClustererMsg.NODE_DESCRIPTION:
      message = { type: 'NODE_DESCRIPTION', description: description(r), path: path(r) };
      break;
    case ClustererMsg.CAP_UPDATE: {
      const seqNo = r.int('seq_no');
      const timestamp = r.int('timestamp');
      const n = count(r, 'nr_nodes');
      const nodes: Array<{ nodeId: number; capabilities: CapabilityState[] }> = [];
      for (let i = 0; i < n; i++) {
        const nodeId = r.int('node_id');
        const nc = count(r, 'nr_cap');
        const capabilities: CapabilityState[] = [];
        for (let j = 0; j < nc; j++) capabilities.push({ name: r.str('cap'), state: r.int('cap_state') });
        nodes.push({ nodeId, capabilities });
      }
      message = { type: 'CAP_UPDATE', seqNo, timestamp, nodes, requireReply: r.int('require_reply'), path: path(r) };
      break;
    }
    default:
      throw unsupported(
        `${CL_INTERNAL_CAP} message type ${p.type} is not one OpenSIPS 3.4-4.0 sends; the peer runs a release ulbridge does not support`,
      );
  }
  r.end();
  return { clusterId, sourceId, message };
}

export function encodeInternal(pk: InternalPacket): Buffer {
  const w = new BinWriter().int(pk.clusterId).int(pk.sourceId);
  const m = pk.message;
  switch (m.type) {
    case 'PING':
      w.int(m.requestNodeList);
      break;
    case 'PONG':
      w.int(m.nodes.length);
      for (const n of m.nodes) w.int(n);
      break;
    case 'LS_UPDATE':
      w.int(m.seqNo).int(m.timestamp).int(m.neighbourId).int(m.linkState);
      writePath(w, m.path);
      break;
    case 'FULL_TOP_UPDATE':
      w.int(m.seqNo).int(m.timestamp).int(m.nodes.length);
      for (const n of m.nodes) {
        w.int(n.nodeId).int(n.description ? 1 : 0);
        if (n.description) writeDescription(w, n.description);
        w.int(n.lsSeqNo).int(n.lsTimestamp).int(n.neighbours.length);
        for (const x of n.neighbours) w.int(x);
      }
      writePath(w, m.path);
      break;
    case 'UNKNOWN_ID':
      break;
    case 'NODE_DESCRIPTION':
      writeDescription(w, m.description);
      writePath(w, m.path);
      break;
    case 'CAP_UPDATE':
      w.int(m.seqNo).int(m.timestamp).int(m.nodes.length);
      for (const n of m.nodes) {
        w.int(n.nodeId).int(n.capabilities.length);
        for (const c of n.capabilities) w.str(c.name).int(c.state);
      }
      w.int(m.requireReply);
      writePath(w, m.path);
      break;
  }
  return encodeBinPacket({ version: CL_BIN_VERSION, capability: CL_INTERNAL_CAP, type: ClustererMsg[m.type], body: w.toBuffer() });
}

export function decodeExtra(p: BinPacket): ExtraPacket {
  if (p.capability !== CL_EXTRA_CAP) throw malformed(`not a ${CL_EXTRA_CAP} packet: ${p.capability}`);
  const isSync = p.type === ClustererMsg.SYNC || p.type === ClustererMsg.SYNC_END || p.type === ClustererMsg.SYNC_REQ;
  checkVersion(p, isSync ? CL_BIN_SYNC_VERSION : CL_BIN_VERSION, `${CL_EXTRA_CAP} ${MSG_NAMES[p.type] ?? p.type}`);
  const { payload, trailer } = splitTrailer(p.body);
  const r = new BinReader(payload, `${CL_EXTRA_CAP} ${MSG_NAMES[p.type] ?? p.type}`);
  let message: ExtraMessage;
  switch (p.type) {
    case ClustererMsg.REMOVE_NODE:
      message = { type: 'REMOVE_NODE', targetNode: r.int('target_node') };
      break;
    case ClustererMsg.GENERIC_MSG:
      message = { type: 'GENERIC_MSG', reqLike: r.int('req_like'), tag: r.str('tag'), message: r.str('msg') };
      break;
    case ClustererMsg.MI_CMD: {
      const command = r.str('cmd_name');
      const n = count(r, 'no_params');
      const params: string[] = [];
      for (let i = 0; i < n; i++) params.push(r.str(`param[${i}]`));
      message = { type: 'MI_CMD', command, params };
      break;
    }
    case ClustererMsg.SYNC_REQ:
      message = { type: 'SYNC_REQ', capability: r.str('capability') };
      break;
    case ClustererMsg.SYNC: {
      const capability = r.str('capability');
      const dataVersion = r.int('data_version');
      const chunks: Buffer[] = [];
      while (!r.atEnd()) {
        const size = r.int('chunk_size');
        const marker = r.int('chunk_marker');
        if (marker !== SYNC_CHUNK_START_MARKER) throw malformed(`sync packet: bad chunk start marker ${marker}`);
        if (size < 0 || size > r.remaining) throw malformed(`sync packet: chunk size ${size} runs past the packet`);
        const start = r.offset;
        chunks.push(Buffer.from(payload.subarray(start, start + size)));
        r.skip(size, 'chunk');
      }
      message = { type: 'SYNC', capability, dataVersion, chunks };
      break;
    }
    case ClustererMsg.SYNC_END:
      message = { type: 'SYNC_END', capability: r.str('capability'), chunkCount: r.int('no_sync_chunks') };
      break;
    case ClustererMsg.SHTAG_ACTIVE:
      message = { type: 'SHTAG_ACTIVE', tag: r.str('tag') };
      break;
    default:
      throw unsupported(
        `${CL_EXTRA_CAP} message type ${p.type} is not one OpenSIPS 3.4-4.0 sends; the peer runs a release ulbridge does not support`,
      );
  }
  r.end();
  return { message, trailer };
}

export function encodeExtra(pk: ExtraPacket): Buffer {
  const w = new BinWriter();
  const m = pk.message;
  let version = CL_BIN_VERSION;
  switch (m.type) {
    case 'REMOVE_NODE':
      w.int(m.targetNode);
      break;
    case 'GENERIC_MSG':
      w.int(m.reqLike).str(m.tag).str(m.message);
      break;
    case 'MI_CMD':
      w.str(m.command).int(m.params.length);
      for (const p of m.params) w.str(p);
      break;
    case 'SYNC_REQ':
      version = CL_BIN_SYNC_VERSION;
      w.str(m.capability);
      break;
    case 'SYNC':
      version = CL_BIN_SYNC_VERSION;
      w.str(m.capability).int(m.dataVersion);
      for (const c of m.chunks) w.int(c.length).int(SYNC_CHUNK_START_MARKER).raw(c);
      break;
    case 'SYNC_END':
      version = CL_BIN_SYNC_VERSION;
      w.str(m.capability).int(m.chunkCount);
      break;
    case 'SHTAG_ACTIVE':
      w.str(m.tag);
      break;
  }
  return encodeBinPacket({ version, capability: CL_EXTRA_CAP, type: ClustererMsg[m.type], body: appendTrailer(w.toBuffer(), pk.trailer) });
}

/** A module packet (any capability but the clusterer's own): its fields and the trailer. */
export interface ModulePacket {
  version: number;
  capability: string;
  type: number;
  payload: Buffer;
  trailer: Trailer;
}

export function decodeModule(p: BinPacket): ModulePacket {
  const { payload, trailer } = splitTrailer(p.body);
  return { version: p.version, capability: p.capability, type: p.type, payload: Buffer.from(payload), trailer };
}

export function encodeModule(m: ModulePacket): Buffer {
  return encodeBinPacket({ version: m.version, capability: m.capability, type: m.type, body: appendTrailer(m.payload, m.trailer) });
}

export type AnyPacket = ({ kind: 'internal' } & InternalPacket) | ({ kind: 'extra' } & ExtraPacket) | ({ kind: 'module' } & ModulePacket);

/** Classifies and decodes one whole packet from a clusterer peer (module payloads stay raw). */
export function decodeClusterPacket(buf: Buffer): AnyPacket {
  const p = decodeBinPacket(buf);
  if (p.capability === CL_INTERNAL_CAP) return { kind: 'internal', ...decodeInternal(p) };
  if (p.capability === CL_EXTRA_CAP) return { kind: 'extra', ...decodeExtra(p) };
  return { kind: 'module', ...decodeModule(p) };
}

export function messageName(capability: string, type: number): string {
  if (capability === CL_INTERNAL_CAP || capability === CL_EXTRA_CAP) return MSG_NAMES[type] ?? `type ${type}`;
  return `type ${type}`;
}
