import { UlbridgeError } from '../ops/errors.js';

/**
 * An integer option in [min, max]; otherwise UlbridgeError `BAD_<NAME>` (from the flag name, e.g.
 * `--batch-size` -> BAD_BATCH_SIZE) saying what was expected and what was given.
 */
export function intOption(name: string, raw: string, min: number, max: number, what: string): number {
  const s = raw.trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UlbridgeError(
      `BAD_${name.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`,
      `${name} must be ${what} from ${min} to ${max}, got "${raw}"`,
    );
  }
  return n;
}
