import avro from 'avsc';
import { readFileSync } from 'node:fs';
import type { RegistrationEvent } from './event.js';
import { rabinFingerprintBytes } from './fingerprint.js';

/**
 * Avro single-object encoding of registration events: 0xC3 0x01, the schema's 8-byte CRC-64-AVRO
 * fingerprint (little-endian), then the Avro binary body. The schema ships in schemas/, so any
 * reader can resolve a fingerprint without a registry.
 */

/**
 * Longs as bigints through avsc's own path for a custom long type (an 8-byte buffer per value);
 * the event type uses FastLongAsBigInt below, this one is the reference its bytes are tested against.
 */
export const LongAsBigInt = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (v: number | string) => BigInt(v),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= -(1n << 63n) && n < 1n << 63n,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * Decodes a zigzag varint long straight from the tap's buffer. avsc's own path for a custom long
 * type allocates an 8-byte buffer per value and hands it to fromBuffer; events carry seven longs.
 * Up to 7 bytes (49 bits) are summed exactly in a double; longer values finish in BigInt.
 */
function readZigzagLong(tap: { buf: Buffer; pos: number }): bigint {
  const buf = tap.buf;
  let pos = tap.pos;
  let n = 0;
  let mul = 1;
  let b = 0x80;
  let i = 0;
  for (; i < 7 && b & 0x80; i++) {
    b = buf[pos++]!;
    n += (b & 0x7f) * mul;
    mul *= 128;
  }
  if (!(b & 0x80)) {
    tap.pos = pos;
    return BigInt(n % 2 === 0 ? n / 2 : -(n + 1) / 2);
  }
  let u = BigInt(n);
  let shift = 49n;
  for (; i < 10 && b & 0x80; i++) {
    b = buf[pos++]!;
    u |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  }
  tap.pos = pos;
  return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n));
}

/** Up to this magnitude a long's zigzag value (at most 2^53) is exact in a double. */
const DOUBLE_ZIGZAG_LIMIT = 1n << 52n;
type LongWriter = (this: unknown, tap: { buf: Buffer; pos: number }, n: bigint) => void;
/** avsc's own writer for a custom long type: an 8-byte buffer per value, repacked as a varint. */
const avscLongWrite = (LongAsBigInt as unknown as { _write: LongWriter })._write;

/**
 * Encodes a long as a zigzag varint straight into the tap's buffer, for values within +-2^52
 * (every long of an event but the contact ids of 2.2+ sources); anything else, including what is
 * not a valid long, takes avsc's path (which also throws its error for an invalid value). Bytes
 * past the end of the buffer are dropped, as avsc's writers drop them: the tap is then invalid and
 * avsc retries with a larger buffer. test/unit/project-codec-long.test.ts compares the bytes with
 * avsc's writer.
 */
function writeZigzagLong(this: unknown, tap: { buf: Buffer; pos: number }, n: bigint): void {
  if (typeof n !== 'bigint' || n < -DOUBLE_ZIGZAG_LIMIT || n > DOUBLE_ZIGZAG_LIMIT) {
    avscLongWrite.call(this, tap, n);
    return;
  }
  const v = Number(n);
  let z = v >= 0 ? v * 2 : -v * 2 - 1;
  const buf = tap.buf;
  let pos = tap.pos;
  while (z >= 128) {
    buf[pos++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[pos++] = z;
  tap.pos = pos;
}

/** LongAsBigInt with the direct reader and writer (avsc freezes __with types, so this one inherits from it). */
const FastLongAsBigInt: typeof LongAsBigInt = Object.create(LongAsBigInt);
Object.defineProperty(FastLongAsBigInt, '_read', { value: readZigzagLong });
Object.defineProperty(FastLongAsBigInt, '_write', { value: writeZigzagLong });

const schemaUrl = new URL('../../schemas/registration-event.avsc', import.meta.url);
export const registrationEventSchema: avro.Schema = JSON.parse(readFileSync(schemaUrl, 'utf8'));
export const registrationEventType = avro.Type.forSchema(registrationEventSchema, {
  registry: { long: FastLongAsBigInt },
});

const MAGIC = Buffer.from([0xc3, 0x01]);
/** CRC-64-AVRO fingerprint of the schema's parsing canonical form (avsc's schema() output). */
export const schemaFingerprint: Buffer = rabinFingerprintBytes(JSON.stringify(registrationEventType.schema()));
const HEADER = Buffer.concat([MAGIC, schemaFingerprint]);

export class EventDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

export function encodeEvent(event: RegistrationEvent): Buffer {
  const errors: string[] = [];
  const valid = registrationEventType.isValid(event, { errorHook: (path) => errors.push(path.join('.')) });
  if (!valid) throw new EventDecodeError(`registration event is invalid at ${errors.join(', ')}`);
  return Buffer.concat([HEADER, registrationEventType.toBuffer(event)]);
}

export function decodeEvent(buf: Buffer): RegistrationEvent {
  if (buf.length < 10 || buf[0] !== 0xc3 || buf[1] !== 0x01) {
    throw new EventDecodeError('not an Avro single-object encoded message (missing C3 01 header)');
  }
  if (!buf.subarray(2, 10).equals(schemaFingerprint)) {
    throw new EventDecodeError(
      `unknown schema fingerprint ${buf.subarray(2, 10).toString('hex')}; this build knows ${schemaFingerprint.toString('hex')}`,
    );
  }
  return registrationEventType.fromBuffer(buf.subarray(10)) as RegistrationEvent;
}
