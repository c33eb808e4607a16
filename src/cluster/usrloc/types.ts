/**
 * usrloc replication packets (capability "usrloc-contact-repl", modules/usrloc/ul_cluster.c), as
 * plain data. Strings are the SIP values as text ("" where OpenSIPS pushed NULL or an empty str:
 * the wire does not tell them apart). 64-bit values are bigint; time_t fields are Unix seconds.
 */

export const USRLOC_CAPABILITY = 'usrloc-contact-repl';

/** Packet types (ul_cluster.h), and SYNC_PACKET_TYPE (clusterer/api.h) for sync chunks. */
export const REPL_URECORD_INSERT = 1;
export const REPL_URECORD_DELETE = 2;
export const REPL_UCONTACT_INSERT = 3;
export const REPL_UCONTACT_UPDATE = 4;
export const REPL_UCONTACT_DELETE = 5;
export const SYNC_PACKET_TYPE = 101;

/** struct ct_match mode (ucontact.h). */
export const CT_MATCH_NONE = -1;
export const CT_MATCH_CONTACT_ONLY = 0;
export const CT_MATCH_CONTACT_CALLID = 1;
export const CT_MATCH_PARAMS = 2;

export interface ContactMatch {
  /** CT_MATCH_*; the params list is on the wire only for CT_MATCH_PARAMS. */
  mode: number;
  params?: string[];
}

export interface UrecordFields {
  /** The usrloc domain, i.e. the table name ("location"). */
  domain: string;
  aor: string;
  /** urecord label (rlabel, the middle part of every contact id of the record). */
  label: number;
  /** The next contact label the record will hand out. */
  nextClabel: number;
  /** The record's key-value store, serialized (cJSON, unformatted); "" when empty. Only in UL_BIN_V5. */
  kvStore?: string;
}

/** Every field bin_push_contact() / replicate_ucontact_update() push. */
export interface ContactFields {
  domain: string;
  aor: string;
  contact: string;
  contactId: bigint;
  callid: string;
  userAgent: string;
  path: string;
  attr: string;
  received: string;
  instance: string;
  /** Absolute expiry, Unix seconds (time_t); 0 = permanent. */
  expires: bigint;
  /** qvalue_t: q * 1000, -1 when the contact had no q. */
  q: number;
  /** Internal name of the receiving socket ("udp:127.0.0.1:5060" or its tag), "" when none. */
  socket: string;
  cseq: number;
  /** ucontact flags (FL_*), unsigned. */
  flags: number;
  /**
   * Branch flags: an int bitmask up to UL_BIN_V3, the space-separated flag names from UL_BIN_V4
   * (bitmask_to_flag_list(FLAG_TYPE_BRANCH, ...)).
   */
  cflags: number | string;
  /** Supported methods bitmask, unsigned (0xffffffff: all). */
  methods: number;
  /** time_t, Unix seconds. */
  lastModified: bigint;
  /** The contact's key-value store, serialized; "" when empty. */
  kvStore: string;
  /** Absent in UL_BIN_V2 packets (the receiver assumes CT_MATCH_CONTACT_CALLID). */
  match?: ContactMatch;
}

export interface UcontactDeleteFields {
  domain: string;
  aor: string;
  contact: string;
  callid: string;
  cseq: number;
  match?: ContactMatch;
}

/** One chunk of a usrloc sync packet: a record, or one of its contacts. */
export type UsrlocSyncChunk = { kind: 'urecord'; record: UrecordFields } | { kind: 'ucontact'; contact: ContactFields };

export type UsrlocMessage =
  | { type: 'URECORD_INSERT'; record: UrecordFields }
  | { type: 'URECORD_DELETE'; domain: string; aor: string }
  | { type: 'UCONTACT_INSERT'; contact: ContactFields }
  | { type: 'UCONTACT_UPDATE'; contact: ContactFields }
  | { type: 'UCONTACT_DELETE'; delete: UcontactDeleteFields };

export type UsrlocMessageType = UsrlocMessage['type'];

export const TYPE_CODES: Record<UsrlocMessageType, number> = {
  URECORD_INSERT: REPL_URECORD_INSERT,
  URECORD_DELETE: REPL_URECORD_DELETE,
  UCONTACT_INSERT: REPL_UCONTACT_INSERT,
  UCONTACT_UPDATE: REPL_UCONTACT_UPDATE,
  UCONTACT_DELETE: REPL_UCONTACT_DELETE,
};

/** A codec for one UL_BIN_VERSION. Bodies are the fields only (no BIN header, no clusterer trailer). */
export interface UsrlocCodec {
  readonly version: number;
  /** The OpenSIPS releases that send this version. */
  readonly releases: readonly string[];
  decode(type: number, body: Buffer): UsrlocMessage;
  encode(message: UsrlocMessage): { type: number; body: Buffer };
  decodeSyncChunk(chunk: Buffer): UsrlocSyncChunk;
  encodeSyncChunk(chunk: UsrlocSyncChunk): Buffer;
}
