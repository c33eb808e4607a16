import type { Registration } from '../log/event.js';
import { unixToLocalDatetime } from '../opensips/localTime.js';
import type { ReleaseProfile } from '../opensips/releases.js';
import type { Target } from './target.js';

/** usrloc flag bit 0 (FL_MEM): a row carrying it is never updated or deleted by OpenSIPS. */
const FL_MEM = 1;

/** The target columns ulbridge writes, in order; kv_store only for 2.4+ tables. */
export function targetColumns(target: Target): string[] {
  return target.profile.columns.map((c) => c.name);
}

/** PostgreSQL array type of each column, for UNNEST parameters. */
export function targetColumnPgTypes(target: Target): string[] {
  return target.profile.columns.map((c) => {
    switch (c.type.kind) {
      case 'serial-key':
        return 'bigint';
      case 'int':
        return 'integer';
      case 'real':
        return 'real';
      case 'datetime':
        return 'timestamp';
      default:
        return 'text';
    }
  });
}

export type CellValue = string | number | bigint | null;

/**
 * One target row as column values, converted for the target release: INTEGER or local-time
 * DATETIME `expires` (0 = permanent is localtime(0) on DATETIME tables), local-time
 * `last_modified`, FL_MEM cleared so the registrar keeps ownership of its in-memory copy.
 */
export function targetRowValues(target: Target, contactId: bigint, reg: Registration): CellValue[] {
  return locationRowValues(target.profile, target.timeZone, reg, { contact_id: contactId });
}

/**
 * One row of a location table of any release as column values (the profile's columns, in order),
 * with DATETIME columns in the registrar's zone and FL_MEM cleared; `keys` gives the key column's
 * value (contact_id), or leaves it null (a 2.1 `id` the database assigns).
 */
export function locationRowValues(profile: ReleaseProfile, tz: string, reg: Registration, keys: { contact_id?: bigint } = {}): CellValue[] {
  const values: Record<string, CellValue> = {
    contact_id: keys.contact_id ?? null,
    username: reg.username,
    domain: reg.domain,
    contact: reg.contact,
    received: reg.received,
    path: reg.path,
    expires: profile.expires === 'unix' ? Number(reg.expires) : unixToLocalDatetime(reg.expires, tz),
    q: reg.q,
    callid: reg.callid,
    cseq: reg.cseq,
    last_modified: unixToLocalDatetime(reg.lastModified, tz),
    flags: reg.flags & ~FL_MEM,
    cflags: reg.cflags,
    user_agent: reg.userAgent,
    socket: reg.socket,
    methods: reg.methods,
    sip_instance: reg.sipInstance,
    kv_store: reg.kvStore,
    attr: reg.attr,
  };
  return profile.columns.map((c) => values[c.name] ?? null);
}
