import { UlbridgeError } from '../ops/errors.js';

/**
 * usrloc's `hash_size` modparam is the log2 of the number of hash slots. OpenSIPS 2.2+ refuses
 * values above 16 at start-up; values <= 1 fall back to the default of 2^9 = 512 slots.
 */
export const MAX_HASH_SIZE = 16;
export const DEFAULT_HASH_SIZE = 9;

export function parseHashSize(raw: string | number): number {
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_HASH_SIZE) {
    throw new UlbridgeError(
      'BAD_HASH_SIZE',
      `--hash-size must be an integer from 0 to ${MAX_HASH_SIZE} (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "${raw}"`,
    );
  }
  return n;
}

/** Number of usrloc hash slots for a hash_size modparam value. */
export function slotCount(hashSize: number): number {
  return 2 ** (hashSize <= 1 ? DEFAULT_HASH_SIZE : hashSize);
}

/** The slot that a record with this full core_hash lands in: core_hash & (slots - 1). */
export function slotOf(fullHash: number, hashSize: number): number {
  return fullHash & (slotCount(hashSize) - 1);
}
