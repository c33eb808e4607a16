import type { Dialect } from '../db/dialect.js';
import type { Registration } from '../log/event.js';
import { localDatetimeToUnix } from '../opensips/localTime.js';
import type { Target } from './target.js';

/**
 * A target row as it stands inside the applier's transaction: its contact id and the registration
 * it holds (every column a usrloc replication packet carries; src/push/packets.ts builds the
 * packets from it; expires and last_modified as Unix seconds). Read back from the table, not
 * rebuilt from the plan, so what a registrar is told is exactly what the table holds.
 */
export interface RowImage extends Registration {
  contactId: bigint;
}

/** What one applied batch changed in the target table, in the order it happened. */
export interface RowChange {
  op: 'insert' | 'update' | 'delete';
  row: RowImage;
}

/** Which rows to read: these contact ids, or every row a source's bindings of one log partition hold. */
export type ImageSelection = { ids: bigint[] } | { source: string; partition: number };

/** The SELECT list of a RowImage, for both dialects (alias: the table's alias in the query, e.g. "t."). */
export function rowImageSelectList(d: Dialect, target: Target, alias = ''): string {
  const c = (name: string): string => `${alias}${d.quoteIdent(name)}`;
  const as = (expr: string, name: string): string => `${expr} AS ${d.quoteIdent(name)}`;
  const expires = target.profile.expires === 'datetime' ? d.datetimeText(c('expires')) : c('expires');
  return [
    as(d.name === 'postgres' ? `${c('contact_id')}::text` : `CAST(${c('contact_id')} AS CHAR)`, 'contact_id'),
    ...[
      'username',
      'domain',
      'contact',
      'received',
      'path',
      'q',
      'callid',
      'cseq',
      'flags',
      'cflags',
      'user_agent',
      'socket',
      'methods',
    ].map(c),
    as(expires, 'expires'),
    as(d.datetimeText(c('last_modified')), 'last_modified'),
    target.profile.hasKvStore ? c('kv_store') : as('NULL', 'kv_store'),
    c('sip_instance'),
    c('attr'),
  ].join(', ');
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
const textOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : text(v));

/** A row read with rowImageSelectList, typed (MySQL may hand over text as Buffers and BIGINT as strings). */
export function toRowImage(r: Record<string, unknown>, target: Target): RowImage {
  const expires = target.profile.expires === 'datetime' ? localDatetimeToUnix(text(r.expires), target.timeZone) : BigInt(text(r.expires));
  return {
    contactId: BigInt(text(r.contact_id)),
    username: text(r.username),
    domain: textOrNull(r.domain),
    contact: text(r.contact),
    received: textOrNull(r.received),
    path: textOrNull(r.path),
    expires,
    q: Number(r.q),
    callid: text(r.callid),
    cseq: Number(r.cseq),
    lastModified: localDatetimeToUnix(text(r.last_modified), target.timeZone),
    flags: Number(r.flags),
    cflags: textOrNull(r.cflags),
    userAgent: text(r.user_agent),
    socket: textOrNull(r.socket),
    methods: r.methods === null || r.methods === undefined ? null : Number(r.methods),
    sipInstance: textOrNull(r.sip_instance),
    kvStore: textOrNull(r.kv_store),
    attr: textOrNull(r.attr),
  };
}
