import { aorBytes } from '../opensips/aor.js';
import { coreHash, type CharSignedness } from '../opensips/coreHash.js';
import { slotOf } from '../opensips/hashSize.js';
import { contactIdRelease, type ReleaseProfile } from '../opensips/releases.js';

/** One projection target: a 2.2+ location table in PostgreSQL, as one registrar reads it. */
export interface TargetOptions {
  name: string;
  /** PostgreSQL URL of the target database. */
  db: string;
  table: string;
  release: string;
  hashSize: number;
  useDomain: boolean;
  signedness: CharSignedness;
  /** IANA zone of the target registrar: DATETIME columns hold its local time. */
  timeZone: string;
  /** Schema that holds ulbridge's state for this target (labels, bindings, offsets). */
  stateSchema: string;
  /**
   * The target's registrar writes this table too and reverse sync copies its changes into the
   * legacy table (docs/reverse.md): the projection then records its own transactions (so reverse
   * sync skips them), adopts the registrar's rows that reverse sync linked, and applies the
   * conflict rule instead of overwriting. Default false.
   */
  shared?: boolean;
  /**
   * The target's registrars are told of every change (targets[].cluster, src/push): each batch
   * reads back the rows it wrote and deleted (BatchResult.changes). Default false.
   */
  push?: boolean;
}

export interface Target extends TargetOptions {
  profile: ReleaseProfile;
}

export function compileTarget(opts: TargetOptions): Target {
  return { ...opts, profile: contactIdRelease(opts.release) };
}

export interface AorIdentity {
  /** The AOR string usrloc hashes for this target (user, or user@domain with use_domain). */
  key: string;
  aorhash: number;
  slot: number;
}

export function aorIdentity(target: Target, username: string, domain: string | null): AorIdentity {
  const bytes = aorBytes(username, domain, { useDomain: target.useDomain });
  const full = coreHash(bytes, target.signedness);
  return { key: bytes.toString('utf8'), aorhash: full & 0xffff, slot: slotOf(full, target.hashSize) };
}

/**
 * aorIdentity memoised per (username, domain): a batch asks for the same AOR several times (loading
 * its state, counting its events, planning), and the hash is not free. Use one per batch.
 */
export function aorIdentityCache(target: Target): (username: string, domain: string | null) => AorIdentity {
  const cache = new Map<string, AorIdentity>();
  return (username, domain) => {
    const k = domain === null ? `${username}\u0000` : `${username}\u0000@${domain}`;
    let id = cache.get(k);
    if (!id) cache.set(k, (id = aorIdentity(target, username, domain)));
    return id;
  };
}
