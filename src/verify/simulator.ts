import type { LocationRow } from '../db/locationRows.js';
import { coreHash, type CharSignedness } from '../opensips/coreHash.js';
import type { ReleaseProfile } from '../opensips/releases.js';
import { kvStoreProblem } from './kvStore.js';
import { LOADABLE, R, type RejectCode } from './reasons.js';
import { firstPathUri, isSipUri } from './sipUri.js';
import { isValidSocket } from './socket.js';

/**
 * One row at a time, what OpenSIPS's preload_udomain() does with it (2.2.0-4.0.x; the checks are
 * the same in every release the profiles cover, see shared/opensips-usrloc.md §3.2, §7):
 *
 *   1. username NULL/empty                      -> "empty username record ..."
 *   2. dbrow2info(): contact_id NULL, contact empty, expires/q/cseq NULL, callid empty, flags NULL,
 *      socket unparsable                        -> its LM_CRIT/LM_ERR line
 *   3. use_domain: domain NULL/empty, user@domain >= MAX_URI_SIZE (1024)
 *   4. (unsigned short)core_hash(AOR) != aorhash field of contact_id -> "failed to match aorhashes"
 *   5. new_ucontact(): contact not a SIP URI; next hop (first Path URI, else received) unparsable
 *
 * check() returns 0 (LOADABLE) or the first reason code, like the C code's first `continue`. On
 * the common path (ASCII AORs) it allocates nothing beyond the two bigints of the aorhash field.
 */

/** usrloc's MAX_URI_SIZE: snprintf("%.*s@%s") into a 1024-byte buffer must not truncate. */
export const MAX_URI_SIZE = 1024;

export interface SimulatorOptions {
  profile: ReleaseProfile;
  hashSize: number;
  /** 2^hash_size (512 for hash_size 0 and 1). */
  slots: number;
  useDomain: boolean;
  signedness: CharSignedness;
  /** Bare table name, as OpenSIPS prints it. */
  tableName: string;
}

/** The fields of a contact_id, computed without allocating more than one bigint each. */
export function idAorhash(id: bigint): number {
  return Number(BigInt.asUintN(16, id >> 46n));
}
export function idRlabel(id: bigint): number {
  return Number(BigInt.asUintN(32, id >> 14n));
}
export function idClabel(id: bigint): number {
  return Number(BigInt.asUintN(14, id));
}

export class PreloadSimulator {
  private readonly buf = Buffer.allocUnsafe(16 * 1024);
  /** views[n] = the first n bytes of buf: built once per length, so hashing a row allocates nothing. */
  private readonly views: Uint8Array[] = [];
  /** Last value seen and its verdict, per column: sockets, received and path values repeat a lot. */
  private lastSocket: string | null = null;
  private lastSocketOk = false;
  private lastReceived: string | null = null;
  private lastReceivedOk = false;
  private lastPath: string | null = null;
  private lastPathOk = false;

  constructor(readonly opts: SimulatorOptions) {}

  /** The AOR string usrloc keys and hashes the row by (user, or user@domain with use_domain). */
  aorOf(row: LocationRow): string {
    return this.opts.useDomain ? `${row.username ?? ''}@${row.domain ?? ''}` : (row.username ?? '');
  }

  /** Appends the UTF-8 bytes of `s` at `at`; ASCII is copied inline, the rest goes through Buffer.write. */
  private put(s: string, at: number): number {
    const buf = this.buf;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return at + i + buf.write(i === 0 ? s : s.slice(i), at + i, 'utf8');
      buf[at + i] = c;
    }
    return at + n;
  }

  /** UTF-8 bytes of the AOR into the scratch buffer; returns the length, or -1 if it may not fit. */
  private encodeAor(user: string, domain: string | null): number {
    if (user.length * 3 + (domain === null ? 0 : domain.length * 3 + 1) > this.buf.length) return -1;
    let n = this.put(user, 0);
    if (domain !== null) {
      this.buf[n++] = 64; // '@'
      n = this.put(domain, n);
    }
    return n;
  }

  private view(n: number): Uint8Array {
    let v = this.views[n];
    if (v === undefined) {
      v = new Uint8Array(this.buf.buffer, this.buf.byteOffset, n);
      this.views[n] = v;
    }
    return v;
  }

  /** Full 32-bit core_hash of the row's AOR as OpenSIPS reads it back. */
  fullHash(row: LocationRow): number {
    const user = row.username ?? '';
    const domain = this.opts.useDomain ? (row.domain ?? '') : null;
    const n = this.encodeAor(user, domain);
    const bytes = n >= 0 ? this.view(n) : Buffer.from(domain === null ? user : `${user}@${domain}`, 'utf8');
    return coreHash(bytes, this.opts.signedness);
  }

  private aorByteLength(user: string, domain: string): number {
    const n = this.encodeAor(user, domain);
    return n >= 0 ? n : Buffer.byteLength(`${user}@${domain}`, 'utf8');
  }

  private socketOk(socket: string): boolean {
    if (socket !== this.lastSocket) {
      this.lastSocket = socket;
      this.lastSocketOk = isValidSocket(socket);
    }
    return this.lastSocketOk;
  }

  private receivedOk(received: string): boolean {
    if (received !== this.lastReceived) {
      this.lastReceived = received;
      this.lastReceivedOk = isSipUri(received);
    }
    return this.lastReceivedOk;
  }

  private pathOk(path: string): boolean {
    if (path !== this.lastPath) {
      this.lastPath = path;
      const uri = firstPathUri(path);
      this.lastPathOk = uri !== null && isSipUri(uri);
    }
    return this.lastPathOk;
  }

  check(row: LocationRow): RejectCode | typeof LOADABLE {
    const user = row.username;
    if (user === null || user.length === 0) return R.emptyUsername;

    // dbrow2info(), in its order (cseq is tested before callid)
    const id = row.contactId;
    if (id === null) return R.nullContactId;
    const contact = row.contact;
    if (contact === null || contact.length === 0) return R.emptyContact;
    if (row.expires === null) return R.nullExpires;
    if (row.q === null) return R.nullQ;
    if (row.cseq === null) return R.nullCseq;
    if (row.callid === null || row.callid.length === 0) return R.emptyCallid;
    if (row.flags === null) return R.nullFlags;
    const socket = row.socket;
    if (socket !== null && socket.length > 0 && !this.socketOk(socket)) return R.badSocket;

    if (this.opts.useDomain) {
      const domain = row.domain;
      if (domain === null || domain.length === 0) return R.emptyDomain;
      if (this.aorByteLength(user, domain) >= MAX_URI_SIZE) return R.aorTooLong;
    }

    if ((this.fullHash(row) & 0xffff) !== idAorhash(id)) return R.aorhashMismatch;

    // mem_insert_ucontact() -> new_ucontact()
    if (!isSipUri(contact)) return R.badContactUri;
    const path = row.path;
    if (path !== null && path.length > 0) {
      if (!this.pathOk(path)) return R.badPath;
    } else {
      const received = row.received;
      if (received !== null && received.length > 0 && !this.receivedOk(received)) return R.badReceived;
    }
    return LOADABLE;
  }

  /** For a loadable row: the line kv_store.c logs while loading it, or null. */
  kvStoreWarning(row: LocationRow): string | null {
    return this.opts.profile.hasKvStore ? kvStoreProblem(row.kvStore) : null;
  }

  /** The line OpenSIPS logs for a rejected row, with this row's values filled in. */
  explain(row: LocationRow, code: RejectCode): string {
    const user = row.username ?? '';
    const table = this.opts.tableName;
    switch (code) {
      case R.emptyUsername:
        return `empty username record in table ${table}...skipping`;
      case R.nullContactId:
        return 'bad contact id';
      case R.emptyContact:
        return 'bad contact';
      case R.nullExpires:
        return 'empty expire';
      case R.nullQ:
        return 'empty q';
      case R.nullCseq:
        return 'empty cseq_nr';
      case R.emptyCallid:
        return 'bad callid';
      case R.nullFlags:
        return 'empty flag';
      case R.badSocket:
        return `bad socket <${row.socket ?? ''}>`;
      case R.emptyDomain:
        return `empty domain record for user ${user}...skipping`;
      case R.aorTooLong: {
        // snprintf truncated the buffer to MAX_URI_SIZE-1 bytes; OpenSIPS prints it, then "@domain".
        const full = Buffer.from(`${user}@${row.domain ?? ''}`, 'utf8');
        return `URI '${full.subarray(0, MAX_URI_SIZE - 1).toString('utf8')}@${row.domain ?? ''}' longer than ${MAX_URI_SIZE}`;
      }
      case R.aorhashMismatch: {
        const full = this.fullHash(row);
        // "new aorhash" is the table-masked hash, not the value compared (§3.2).
        const shown = full & (this.opts.slots - 1) & 0xffff;
        const id = row.contactId ?? 0n;
        return `failed to match aorhashes for user ${this.aorOf(row)},db aorhash [${idAorhash(id)}] new aorhash [${shown}],db contactid [${BigInt.asUintN(64, id)}]`;
      }
      case R.badContactUri:
        return `contact [${row.contact ?? ''}] is not valid! Will not store it!`;
      case R.badPath: {
        const path = row.path ?? '';
        const uri = firstPathUri(path);
        return uri === null ? `failed to get dst_uri for Path '${path}'` : `failed to parse URI of next hop: '${uri}'`;
      }
      case R.badReceived:
        return `failed to parse URI of next hop: '${row.received ?? ''}'`;
    }
  }
}
