import type { Registration } from './event.js';

/**
 * The version of one binding's state, for settling conflicts when both the legacy and the target
 * registrar may write the same binding (reverse sync). A REGISTER refresh keeps the Call-ID and
 * raises the CSeq; a client that restarts picks a new Call-ID and starts its CSeq again, so CSeq
 * only orders changes within one Call-ID.
 */
export interface BindingVersion {
  callid: string;
  cseq: number;
  /** last_modified as unix seconds. */
  lastModified: bigint;
}

export function versionOf(reg: Registration): BindingVersion {
  return { callid: reg.callid, cseq: reg.cseq, lastModified: reg.lastModified };
}

/**
 * The conflict rule: whether `a` is strictly newer than `b`.
 * - same Call-ID: the higher CSeq wins; at equal CSeq, the later last_modified;
 * - different Call-IDs: the later last_modified wins; at equal last_modified, the higher CSeq.
 * Equal versions are not newer: an echo of a change (the same REGISTER seen from the other side)
 * never overwrites anything.
 */
export function isNewer(a: BindingVersion, b: BindingVersion): boolean {
  if (a.callid === b.callid) return a.cseq !== b.cseq ? a.cseq > b.cseq : a.lastModified > b.lastModified;
  return a.lastModified !== b.lastModified ? a.lastModified > b.lastModified : a.cseq > b.cseq;
}
