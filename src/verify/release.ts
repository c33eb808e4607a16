import { RELEASE_NAMES, releaseProfile, type ReleaseProfile } from '../opensips/releases.js';
import { UlbridgeError } from '../ops/errors.js';

/** Releases whose preload verify can simulate: those whose rows carry a contact_id. */
export function verifiableReleases(): string[] {
  return RELEASE_NAMES.filter((r) => releaseProfile(r).checksAorhash);
}

export function verifyProfile(name: string): ReleaseProfile {
  const valid = verifiableReleases().join(', ');
  if (!(RELEASE_NAMES as readonly string[]).includes(name)) {
    throw new UlbridgeError('UNKNOWN_RELEASE', `unknown release "${name}": --release takes one of ${valid}`);
  }
  const profile = releaseProfile(name);
  if (!profile.checksAorhash || profile.keyColumn !== 'contact_id') {
    throw new UlbridgeError(
      'UNSUPPORTED_RELEASE',
      `release ${name} has no contact_id (its key is an auto-increment id), so there is no preload check to simulate: ` +
        `--release takes one of ${valid}; to move a ${name} table, migrate it (DESIGN.md §4)`,
    );
  }
  return profile;
}
