/**
 * Why OpenSIPS's start-up preload (usrloc preload_udomain -> dbrow2info -> mem_insert_ucontact ->
 * new_ucontact) skips a row, in the order the C code tests them, with the line it logs. Wording
 * from modules/usrloc/udomain.c and ucontact.c (2.2.x through 4.0.x; identical where quoted), see
 * shared/opensips-usrloc.md §3.2 and §7 and docs/verify.md.
 *
 * The numeric codes index REJECT_REASONS and are what the simulator returns (0 = loadable), so the
 * hot loop never allocates a reason object.
 */

export type RejectCategory = 'emptyUsername' | 'unparsableFields' | 'emptyDomain' | 'aorhashMismatch';

export interface RejectReason {
  /** Stable JSON key. */
  key: string;
  /** Short human label. */
  label: string;
  category: RejectCategory;
  /** OpenSIPS log level and format string, verbatim. */
  level: 'CRIT' | 'ERR';
  wording: string;
}

export const LOADABLE = 0;

/** Codes returned by PreloadSimulator.check(); REJECT_REASONS[code - 1] describes each. */
export const R = {
  emptyUsername: 1,
  nullContactId: 2,
  emptyContact: 3,
  nullExpires: 4,
  nullQ: 5,
  nullCseq: 6,
  emptyCallid: 7,
  nullFlags: 8,
  badSocket: 9,
  emptyDomain: 10,
  aorTooLong: 11,
  aorhashMismatch: 12,
  badContactUri: 13,
  badPath: 14,
  badReceived: 15,
} as const;

export type RejectCode = (typeof R)[keyof typeof R];

/** dbrow2info() failures are followed by this line (sic: "sipping"). */
export const DBROW2INFO_FOLLOW_UP = 'sipping record for %.*s in table %s';
/** mem_insert_ucontact() failures (new_ucontact) are followed by this one. */
export const INSERT_FOLLOW_UP =
  'inserting contact failed\nFound a bad contact with id:[%PRIu64] aor:[%.*s] contact:[%.*s] received:[%.*s]!\n' +
  'Will continue but that contact needs to be REMOVED!!';

export const REJECT_REASONS: readonly RejectReason[] = [
  {
    key: 'emptyUsername',
    label: 'empty username',
    category: 'emptyUsername',
    level: 'CRIT',
    wording: 'empty username record in table %s...skipping',
  },
  { key: 'nullContactId', label: 'NULL contact_id', category: 'unparsableFields', level: 'CRIT', wording: 'bad contact id' },
  { key: 'emptyContact', label: 'empty contact', category: 'unparsableFields', level: 'CRIT', wording: 'bad contact' },
  { key: 'nullExpires', label: 'NULL expires', category: 'unparsableFields', level: 'CRIT', wording: 'empty expire' },
  { key: 'nullQ', label: 'NULL q', category: 'unparsableFields', level: 'CRIT', wording: 'empty q' },
  { key: 'nullCseq', label: 'NULL cseq', category: 'unparsableFields', level: 'CRIT', wording: 'empty cseq_nr' },
  { key: 'emptyCallid', label: 'empty callid', category: 'unparsableFields', level: 'CRIT', wording: 'bad callid' },
  { key: 'nullFlags', label: 'NULL flags', category: 'unparsableFields', level: 'CRIT', wording: 'empty flag' },
  { key: 'badSocket', label: 'unparsable socket', category: 'unparsableFields', level: 'ERR', wording: 'bad socket <%s>' },
  {
    key: 'emptyDomain',
    label: 'empty domain with use_domain',
    category: 'emptyDomain',
    level: 'CRIT',
    wording: 'empty domain record for user %.*s...skipping',
  },
  {
    key: 'aorTooLong',
    label: 'user@domain too long',
    category: 'unparsableFields',
    level: 'CRIT',
    wording: "URI '%.*s@%s' longer than %d",
  },
  {
    key: 'aorhashMismatch',
    label: 'aorhash mismatch',
    category: 'aorhashMismatch',
    level: 'ERR',
    wording: 'failed to match aorhashes for user %.*s,db aorhash [%u] new aorhash [%u],db contactid [%PRIu64]',
  },
  {
    key: 'badContactUri',
    label: 'contact not a SIP URI',
    category: 'unparsableFields',
    level: 'ERR',
    wording: 'contact [%.*s] is not valid! Will not store it!',
  },
  {
    key: 'badPath',
    label: 'unparsable path',
    category: 'unparsableFields',
    level: 'ERR',
    wording: "failed to get dst_uri for Path '%.*s'",
  },
  {
    key: 'badReceived',
    label: 'received not a SIP URI',
    category: 'unparsableFields',
    level: 'ERR',
    wording: "failed to parse URI of next hop: '%.*s'",
  },
];

export function reasonOf(code: number): RejectReason {
  const r = REJECT_REASONS[code - 1];
  if (!r) throw new RangeError(`no reject reason ${code}`);
  return r;
}

export const REJECT_CATEGORIES: readonly RejectCategory[] = ['aorhashMismatch', 'emptyUsername', 'emptyDomain', 'unparsableFields'];

/** Rows that load but make OpenSIPS log an error (kv_store.c store_deserialize). */
export interface WarningReason {
  key: 'badKvStore';
  label: string;
  /** The lines kv_store.c logs, as the summary quotes them. */
  wording: string;
}

export const KV_STORE_WARNING: WarningReason = {
  key: 'badKvStore',
  label: 'kv_store not a JSON object of strings/numbers',
  wording: 'LM_ERR "bad JSON input or oom" / LM_BUG "non-cJSON_Object kv_store col type (%d)" / LM_BUG "unknown obj type (%d)"',
};
