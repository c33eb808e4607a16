import { EXIT, UlbridgeError } from '../ops/errors.js';

/**
 * Errors of the OpenSIPS cluster (BIN / clusterer / usrloc replication) codec. Two stable codes:
 *
 * - CLUSTER_PROTOCOL_UNSUPPORTED: the packet is well formed but of a protocol version (BIN
 *   header version of a capability) that this ulbridge does not implement. Never guessed: the
 *   operator has to run an OpenSIPS release that ulbridge supports, or upgrade ulbridge.
 * - CLUSTER_PACKET_MALFORMED: the bytes do not form a packet of the version they claim (short
 *   buffer, bad marker, a length that runs past the end, a fixed-size field of the wrong size).
 *
 * And two of the cluster node (./node.ts):
 *
 * - CLUSTER_LISTEN_FAILED: the node cannot listen on its bin socket (port in use, address not
 *   on this host, no permission). The operator frees the port or changes the listen address,
 *   which must stay the url the registrars have for ulbridge's node id.
 * - CLUSTER_CONFIG_INVALID: the node's own settings contradict each other (ulbridge's node id
 *   listed among the registrars, a node id twice, an id or port out of range).
 */
export const CLUSTER_PROTOCOL_UNSUPPORTED = 'CLUSTER_PROTOCOL_UNSUPPORTED';
export const CLUSTER_PACKET_MALFORMED = 'CLUSTER_PACKET_MALFORMED';
export const CLUSTER_LISTEN_FAILED = 'CLUSTER_LISTEN_FAILED';
export const CLUSTER_CONFIG_INVALID = 'CLUSTER_CONFIG_INVALID';

export type ClusterErrorCode =
  typeof CLUSTER_PROTOCOL_UNSUPPORTED | typeof CLUSTER_PACKET_MALFORMED | typeof CLUSTER_LISTEN_FAILED | typeof CLUSTER_CONFIG_INVALID;

export class ClusterProtocolError extends UlbridgeError {
  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, EXIT.error, options);
  }
}

export function unsupported(message: string): ClusterProtocolError {
  return new ClusterProtocolError(CLUSTER_PROTOCOL_UNSUPPORTED, message);
}

export function malformed(message: string): ClusterProtocolError {
  return new ClusterProtocolError(CLUSTER_PACKET_MALFORMED, message);
}
