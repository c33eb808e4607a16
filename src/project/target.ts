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

export function defaultStateSchema(targetName: string): string {
  return `ulbridge_${targetName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}
