import { EXIT, UlbridgeError } from '../ops/errors.js';

/**
 * Errors of the OpenSIPS cluster (BIN / clusterer / usrloc replication) codec. Two stable codes:
 *
 * - CLUSTER_PROTOCOL_UNSUPPORTED: the packet is well formed but of a protocol version (BIN
 *   header version of a capability) that this ulbridge does not implement. Never guessed: the
 *   operator has to run an OpenSIPS release that ulbridge supports, or upgrade ulbridge.
 * - CLUSTER_PACKET_MALFORMED: the bytes do not form a packet of the version they claim (short
 *   buffer, bad marker, a length that runs past the end, a fixed-size field of the wrong size).
 */
export const CLUSTER_PROTOCOL_UNSUPPORTED = 'CLUSTER_PROTOCOL_UNSUPPORTED';
export const CLUSTER_PACKET_MALFORMED = 'CLUSTER_PACKET_MALFORMED';

export type ClusterErrorCode = typeof CLUSTER_PROTOCOL_UNSUPPORTED | typeof CLUSTER_PACKET_MALFORMED;

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
