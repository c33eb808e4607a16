import { unpackContactId } from '../opensips/contactId.js';
import type { RowChange, RowImage } from '../project/rowImage.js';
import { CT_MATCH_NONE, type ContactFields, type UsrlocMessage } from '../cluster/usrloc/index.js';

/** How a target's rows become usrloc replication packets for its registrars. */
export interface PacketOptions {
  /** UL_BIN_VERSION of the registrars' release (3: 3.4/3.5, 5: 3.6/4.0). */
  version: number;
  /** usrloc domain the registrars save() into (the table name, "location"). */
  domain: string;
  /** The registrars' usrloc use_domain: the AOR is user@domain. */
  useDomain: boolean;
  /** Version 3 only: branch flag names, bit 0 first (the packet carries a bitmask). */
  branchFlags?: readonly string[];
}

/** ALL_METHODS: what usrloc assumes for a row whose methods column is NULL. */
const ALL_METHODS = 0xffffffff;

export function aorOf(row: Pick<RowImage, 'username' | 'domain'>, useDomain: boolean): string {
  return useDomain && row.domain ? `${row.username}@${row.domain}` : row.username;
}

/**
 * The packets a registrar of the cluster would have sent for this change, so its memory ends up
 * holding exactly the row: a new row is URECORD_INSERT (creates the record with the row's record
 * label; next_clabel at the row's contact label, so the receiver keeps that label) then
 * UCONTACT_INSERT; an updated row is UCONTACT_UPDATE (which wins over a same-CSeq copy and creates
 * the contact if the registrar lacks it); a deleted row is UCONTACT_DELETE with the CSeq it was
 * stored with. Contacts are matched the registrar's own way (CT_MATCH_NONE).
 * `unmappedFlags` collects branch flag names a version-3 bitmask cannot carry.
 */
export function packetsFor(change: RowChange, o: PacketOptions, unmappedFlags?: Set<string>): UsrlocMessage[] {
  const row = change.row;
  const aor = aorOf(row, o.useDomain);
  if (change.op === 'delete') {
    return [
      {
        type: 'UCONTACT_DELETE',
        delete: { domain: o.domain, aor, contact: row.contact, callid: row.callid, cseq: row.cseq, match: { mode: CT_MATCH_NONE } },
      },
    ];
  }
  const contact = contactFields(row, aor, o, unmappedFlags);
  if (change.op === 'update') return [{ type: 'UCONTACT_UPDATE', contact }];
  const { rlabel, clabel } = unpackContactId(row.contactId);
  return [
    {
      type: 'URECORD_INSERT',
      // A 3.6+ receiver parses the record's kv-store even when empty; "{}" is the empty store.
      record: { domain: o.domain, aor, label: rlabel, nextClabel: clabel, ...(o.version >= 5 ? { kvStore: '{}' } : {}) },
    },
    { type: 'UCONTACT_INSERT', contact },
  ];
}

function contactFields(row: RowImage, aor: string, o: PacketOptions, unmappedFlags?: Set<string>): ContactFields {
  return {
    domain: o.domain,
    aor,
    contact: row.contact,
    contactId: row.contactId,
    callid: row.callid,
    userAgent: row.userAgent,
    path: row.path ?? '',
    attr: row.attr ?? '',
    received: row.received ?? '',
    instance: row.sipInstance ?? '',
    expires: row.expires,
    // usrloc reads q as a double and keeps q * 1000 (double2q); a negative q is "none".
    q: row.q < 0 ? -1 : Math.round(row.q * 1000),
    socket: row.socket ?? '',
    cseq: row.cseq,
    flags: row.flags >>> 0,
    cflags: o.version >= 4 ? (row.cflags ?? '') : branchMask(row.cflags, o.branchFlags ?? [], unmappedFlags),
    methods: row.methods === null ? ALL_METHODS : row.methods >>> 0,
    lastModified: row.lastModified,
    kvStore: row.kvStore ?? '',
    match: { mode: CT_MATCH_NONE },
  };
}

/** Flag names (space-separated, as the cflags column holds them) as the bitmask of a version-3 packet. */
export function branchMask(names: string | null, bits: readonly string[], unmapped?: Set<string>): number {
  let mask = 0;
  for (const name of (names ?? '').split(/\s+/)) {
    if (name === '') continue;
    const bit = bits.indexOf(name);
    if (bit < 0) unmapped?.add(name);
    else mask |= 1 << bit;
  }
  return mask >>> 0;
}
