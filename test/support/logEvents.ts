/**
 * Registration-log records for the apply-transaction tests (PostgreSQL and MySQL writers): one
 * builder, so both writers are fed exactly the same events.
 */
import { encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import type { LogMessage } from '../../src/project/batch.js';

/** 2025-11-24 16:00:00 UTC (17:00:00 in Europe/Berlin): "now" of the apply tests. */
export const APPLY_NOW = 1764000000;

/** A change of legacy row `rowKey` (binding legacy:<rowKey>) at source position (major, 1, 0). */
export function logEvent(
  op: 'UPSERT' | 'DELETE' | 'TRUNCATE',
  rowKey: bigint,
  major: bigint,
  user: string,
  cseq = 1,
  expires = BigInt(APPLY_NOW + 3600),
): RegistrationEvent {
  return {
    op,
    source: {
      name: 'legacy',
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey,
      position: { major, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 1764000000000n,
    },
    registration:
      op === 'TRUNCATE'
        ? null
        : {
            username: user,
            domain: 'example.com',
            contact: `sip:${user}@192.0.2.${rowKey}:5060`,
            received: null,
            path: null,
            expires,
            q: 0.5,
            callid: `cid-${rowKey}`,
            cseq,
            lastModified: BigInt(APPLY_NOW),
            flags: 1,
            cflags: 'NAT',
            userAgent: 'ua',
            socket: 'udp:192.0.2.10:5060',
            methods: null,
            sipInstance: null,
            kvStore: null,
            attr: null,
          },
  };
}

/** The log record of an event (null = a tombstone of `key`). */
export function logMessage(offset: number, e: RegistrationEvent | null, key?: string): LogMessage {
  return {
    offset: String(offset),
    key: Buffer.from(key ?? (e!.op === 'TRUNCATE' ? 'legacy:truncate' : `legacy:${e!.source.rowKey}`)),
    value: e ? encodeEvent(e) : null,
  };
}
