import { unixToLocalDatetime } from '../opensips/localTime.js';
import type { ReleaseProfile } from '../opensips/releases.js';
import { UlbridgeError } from '../ops/errors.js';

/**
 * Whether a loadable row is already expired when OpenSIPS starts: VALID_CONTACT is
 * `expires == 0 || expires > now`, so a row is expired when expires != 0 and expires <= now.
 *
 * 2.4+ stores unix seconds. 2.2/2.3 store a DATETIME that OpenSIPS reads with strptime + mktime
 * in the registrar host's local time zone (db_ut.c), so `0` (permanent) is stored as
 * localtime(0), e.g. '1970-01-01 00:00:00' on a UTC host and '1970-01-01 01:00:00' on CET. Rather
 * than converting every row, the clock is converted once: "now" and "zero" are rendered as
 * wall-clock text in `--timezone`, and rows are compared as text (the 'YYYY-MM-DD HH:MM:SS' form
 * sorts like time). Only the repeated hour at a DST fall-back is ambiguous, as it is for mktime.
 */
export interface ExpiryRule {
  isExpired(expires: number | string): boolean;
}

export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new UlbridgeError(
      'BAD_TIMEZONE',
      `--timezone "${tz}" is not an IANA time zone: give the registrar host's zone, e.g. UTC or Europe/Berlin`,
    );
  }
  return tz;
}

/** Unix seconds as 'YYYY-MM-DD HH:MM:SS' wall-clock time in `tz`. */
export function wallClock(unixSeconds: number, tz: string): string {
  return unixToLocalDatetime(unixSeconds, tz);
}

export function expiryRule(profile: ReleaseProfile, now: number, tz: string): ExpiryRule {
  if (profile.expires === 'unix') {
    return { isExpired: (e) => typeof e === 'number' && e !== 0 && e <= now };
  }
  const nowText = wallClock(now, tz);
  const zeroText = wallClock(0, tz);
  return { isExpired: (e) => typeof e === 'string' && e !== zeroText && e <= nowText };
}
