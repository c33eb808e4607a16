import { UlbridgeError } from '../ops/errors.js';

/**
 * usrloc contact_id layout (OpenSIPS 2.2.0+, dlist.h pack_indexes/unpack_indexes):
 *   bits 0-13 clabel, bits 14-45 rlabel, bits 46-61 aorhash, bits 62-63 zero.
 * Everything is bigint: a contact_id does not fit a JS number.
 */
export interface ContactIdParts {
  aorhash: number; // 16 bits
  rlabel: number; // 32 bits
  clabel: number; // 14 bits
}

/**
 * How a release packs: up to 3.1.1 the clabel is added unmasked (a clabel > 16383 spills into
 * the rlabel bits); from 3.1.2 / 3.2.0 it is masked to 14 bits first.
 */
export type ClabelPacking = 'unmasked' | 'masked';

export const CLABEL_BITS = 14;
export const CLABEL_MASK = 0x3fff;
export const MAX_RLABEL = 0xffffffff;
export const MAX_AORHASH = 0xffff;
/** The largest id the layout can hold: every field at its maximum, bits 62-63 clear. */
export const MAX_CONTACT_ID = (1n << 62n) - 1n;

/**
 * pack_indexes(unsigned short aorhash, unsigned int rlabel, unsigned short clabel): inputs are
 * truncated to their C parameter types, exactly as the C conversion does.
 */
export function packContactId(parts: ContactIdParts, packing: ClabelPacking = 'masked'): bigint {
  const aorhash = BigInt(parts.aorhash & 0xffff);
  const rlabel = BigInt(parts.rlabel >>> 0);
  const clabel16 = parts.clabel & 0xffff;
  const clabel = BigInt(packing === 'masked' ? clabel16 & CLABEL_MASK : clabel16);
  return BigInt.asUintN(64, clabel + (rlabel << 14n) + (aorhash << 46n));
}

/** unpack_indexes: the same in every release. Takes the 64 bits as unsigned. */
export function unpackContactId(id: bigint): ContactIdParts {
  const v = BigInt.asUintN(64, id);
  return {
    aorhash: Number((v >> 46n) & 0xffffn),
    rlabel: Number((v >> 14n) & 0xffffffffn),
    clabel: Number(v & 0x3fffn),
  };
}

/** Strict parsing for operator input: a decimal integer in 0 .. 2^62-1. */
export function parseContactId(raw: string): bigint {
  const s = raw.trim();
  if (!/^-?\d+$/.test(s)) {
    throw new UlbridgeError('BAD_CONTACT_ID', `"${raw}" is not a contact id: give a decimal integer from 0 to ${MAX_CONTACT_ID}`);
  }
  const v = BigInt(s);
  if (v < 0n) {
    throw new UlbridgeError('BAD_CONTACT_ID', `contact id ${s} is negative: contact ids are 0 to ${MAX_CONTACT_ID}`);
  }
  if (v > MAX_CONTACT_ID) {
    throw new UlbridgeError(
      'BAD_CONTACT_ID',
      `contact id ${s} is >= 2^62: bits 62-63 are never set in a contact id (max ${MAX_CONTACT_ID})`,
    );
  }
  return v;
}

/** Checks field ranges for `id encode` and the allocator; never truncates silently. */
export function checkParts(parts: ContactIdParts): ContactIdParts {
  const check = (name: string, v: number, max: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new UlbridgeError('BAD_CONTACT_ID_PART', `${name} must be an integer from 0 to ${max}, got ${v}`);
    }
  };
  check('aorhash', parts.aorhash, MAX_AORHASH);
  check('rlabel', parts.rlabel, MAX_RLABEL);
  check('clabel', parts.clabel, CLABEL_MASK);
  return parts;
}
