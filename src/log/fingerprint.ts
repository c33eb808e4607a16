/**
 * CRC-64-AVRO, the Rabin fingerprint the Avro specification defines for single-object encoding
 * (avsc 5 does not ship it). Returned as 8 little-endian bytes, as single-object encoding stores it.
 */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = (1n << 64n) - 1n;

const TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
  return fp;
});

export function rabinFingerprint(text: string): bigint {
  let fp = EMPTY;
  for (const b of Buffer.from(text, 'utf8')) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  return fp;
}

export function rabinFingerprintBytes(text: string): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(rabinFingerprint(text));
  return buf;
}
