/**
 * OpenSIPS `core_hash()` (hash_func.h, identical body from 2.1.0 to 4.0.x), over raw bytes.
 *
 * The C code reads the key through a plain `char *`, so each byte is promoted to `int` with the
 * host's `char` signedness: signed on x86-64 (a byte >= 0x80 contributes a negative value), unsigned
 * on arm64. All arithmetic is on 32-bit unsigned integers; here every intermediate stays below
 * 2^53 and is folded back to 32 bits with `>>> 0`.
 */

export type CharSignedness = 'signed' | 'unsigned';

/** Full 32-bit core_hash(key, NULL, 0). */
export function coreHash(key: Uint8Array, signedness: CharSignedness = 'signed'): number {
  return signedness === 'signed' ? coreHashSigned(key) : coreHashUnsigned(key);
}

function mix(h: number, v: number): number {
  return (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
}

function finish(h: number): number {
  return (h + (h >>> 11) + (h >>> 13) + (h >>> 23)) >>> 0;
}

function coreHashSigned(p: Uint8Array): number {
  const n = p.length;
  const blockEnd = n - 4;
  let h = 0;
  let i = 0;
  for (; i <= blockEnd; i += 4) {
    // (b << 24) >> 24 sign-extends a byte; the sum is taken mod 2^32 like the C `unsigned v`.
    const v =
      ((((p[i]! << 24) >> 24) << 24) + (((p[i + 1]! << 24) >> 24) << 16) + (((p[i + 2]! << 24) >> 24) << 8) + ((p[i + 3]! << 24) >> 24)) >>>
      0;
    h = mix(h, v);
  }
  let v = 0;
  for (; i < n; i++) v = ((v << 8) + ((p[i]! << 24) >> 24)) >>> 0;
  h = mix(h, v);
  return finish(h);
}

function coreHashUnsigned(p: Uint8Array): number {
  const n = p.length;
  const blockEnd = n - 4;
  let h = 0;
  let i = 0;
  for (; i <= blockEnd; i += 4) {
    const v = ((p[i]! << 24) + (p[i + 1]! << 16) + (p[i + 2]! << 8) + p[i + 3]!) >>> 0;
    h = mix(h, v);
  }
  let v = 0;
  for (; i < n; i++) v = ((v << 8) + p[i]!) >>> 0;
  h = mix(h, v);
  return finish(h);
}

/** The 16-bit aorhash that a contact_id carries: core_hash(AOR) & 0xFFFF. */
export function aorHash(key: Uint8Array, signedness: CharSignedness = 'signed'): number {
  return coreHash(key, signedness) & 0xffff;
}
