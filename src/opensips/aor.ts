/**
 * The AOR as usrloc stores and hashes it.
 *
 * The registrar canonicalises the To-URI before save(): the user part is %-unescaped, the domain
 * is lower-cased, and with `case_sensitive=0` the user part is lower-cased too. usrloc then uses
 * `username` (use_domain=0) or `username@domain` (use_domain=1, built by preload with
 * snprintf("%.*s@%s")) as the hash key, byte for byte.
 */

export interface AorOptions {
  /** usrloc `use_domain`: the AOR is user@domain instead of the user alone. */
  useDomain: boolean;
}

export interface CanonicalOptions {
  /** registrar `case_sensitive`: when false the user part is lower-cased as well. */
  caseSensitive: boolean;
}

const PCT = /%([0-9A-Fa-f]{2})/g;

/** %-unescapes a SIP user part. Invalid escapes are kept literally, as the registrar does. */
export function unescapeUser(user: string): string {
  if (!user.includes('%')) return user;
  const bytes: number[] = [];
  let last = 0;
  const src = Buffer.from(user, 'utf8');
  const text = src.toString('latin1');
  for (const m of text.matchAll(PCT)) {
    for (let i = last; i < m.index; i++) bytes.push(src[i]!);
    bytes.push(parseInt(m[1]!, 16));
    last = m.index + 3;
  }
  for (let i = last; i < src.length; i++) bytes.push(src[i]!);
  return Buffer.from(bytes).toString('utf8');
}

/** Registrar-canonical username and domain. */
export function canonicalAor(username: string, domain: string | null, opts: CanonicalOptions): { username: string; domain: string | null } {
  const user = unescapeUser(username);
  return {
    username: opts.caseSensitive ? user : asciiLower(user),
    domain: domain === null ? null : asciiLower(domain),
  };
}

/** OpenSIPS lower-cases with C tolower() in the C locale: ASCII letters only, other bytes kept. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** The AOR string usrloc hashes: `username`, or `username@domain` with use_domain. */
export function aorKey(username: string, domain: string | null, opts: AorOptions): string {
  return opts.useDomain ? `${username}@${domain ?? ''}` : username;
}

/** The bytes core_hash() sees for that AOR (the DB connection delivers UTF-8). */
export function aorBytes(username: string, domain: string | null, opts: AorOptions): Buffer {
  return Buffer.from(aorKey(username, domain, opts), 'utf8');
}
