/**
 * OpenSIPS BIN packets (bin_interface.c / bin_interface.h, unchanged on the wire from 3.4 to 4.0):
 *
 *   +--------+---------+---------+---------+------------+------+---------------------------+
 *   | "P4CK" | pkg len | version | cap len | capability | type | fields ...                |
 *   | 4      | u32     | i16     | u16     | cap len    | i32  | str: u16 len + bytes      |
 *   |        |         |         |         |            |      | int: i32                  |
 *   +--------+---------+---------+---------+------------+------+---------------------------+
 *
 * Every integer is in the sender's host byte order (OpenSIPS memcpy()s them); ulbridge speaks to
 * x86-64 / arm64 builds only, i.e. little-endian. `pkg len` counts the whole packet, header
 * included. A str of length 0 is how bin_push_str() writes both NULL and "" (they cannot be told
 * apart on the wire). The version in the header belongs to the capability: the clusterer's own
 * packets carry BIN_VERSION / BIN_SYNC_VERSION, usrloc's carry UL_BIN_VERSION.
 */
import { malformed } from './errors.js';

export const BIN_PACKET_MARKER = 'P4CK';
const MARKER = Buffer.from(BIN_PACKET_MARKER, 'latin1');
export const BIN_MARKER_SIZE = 4;
export const BIN_PKG_LEN_SIZE = 4;
export const BIN_VERSION_SIZE = 2;
export const BIN_LEN_FIELD_SIZE = 2;
export const BIN_CMD_FIELD_SIZE = 4;
/** marker + pkg len + version (HEADER_SIZE in bin_interface.h). */
export const BIN_HEADER_SIZE = BIN_MARKER_SIZE + BIN_PKG_LEN_SIZE + BIN_VERSION_SIZE;
/** TCP_BUF_SIZE (net/proto_tcp/tcp_common_defs.h): the largest packet OpenSIPS accepts (3.6). */
export const BIN_MAX_PACKET_SIZE = 65535;

export interface BinPacket {
  /** Header version (the capability's protocol version). */
  version: number;
  /** Capability name, e.g. "usrloc-contact-repl", "clusterer-internal", "clusterer-extra". */
  capability: string;
  /** Packet type within the capability. */
  type: number;
  /** Everything after the type: the pushed fields (and, for clusterer-routed packets, the trailer). */
  body: Buffer;
}

/** Appends fields exactly as bin_push_str() / bin_push_int() do. */
export class BinWriter {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  /** A str field: u16 length then the bytes; null, undefined and "" are all written as length 0. */
  str(value: string | Buffer | null | undefined): this {
    const bytes = value === null || value === undefined ? Buffer.alloc(0) : typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (bytes.length > 0xffff) throw malformed(`a BIN str field holds at most 65535 bytes, got ${bytes.length}`);
    const len = Buffer.alloc(BIN_LEN_FIELD_SIZE);
    len.writeUInt16LE(bytes.length);
    return this.push(len).push(bytes);
  }

  /** An int field (C `int`, 4 bytes). Accepts -2^31 .. 2^32-1 (unsigned values are written as their bit pattern). */
  int(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) throw malformed(`not a 32-bit integer: ${value}`);
    const b = Buffer.alloc(4);
    if (value < 0) b.writeInt32LE(value);
    else b.writeUInt32LE(value);
    return this.push(b);
  }

  /** A str field holding a fixed-size little-endian 64-bit value (contact_id, time_t). */
  u64Str(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, value));
    return this.str(b);
  }

  i64Str(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt.asIntN(64, value));
    return this.str(b);
  }

  /** A str field holding a 4-byte int (qvalue_t). */
  i32Str(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    return this.str(b);
  }

  raw(bytes: Buffer): this {
    return this.push(bytes);
  }

  get length(): number {
    return this.size;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads fields in order, as bin_pop_str() / bin_pop_int() do, but refuses to read past the end. */
export class BinReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what = 'BIN packet',
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  atEnd(): boolean {
    return this.pos === this.buf.length;
  }

  strBytes(field: string): Buffer {
    this.need(BIN_LEN_FIELD_SIZE, field);
    const len = this.buf.readUInt16LE(this.pos);
    this.pos += BIN_LEN_FIELD_SIZE;
    this.need(len, field);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A str field as UTF-8 text ("" for length 0). Bytes that are not UTF-8 are refused, not replaced. */
  str(field: string): string {
    const b = this.strBytes(field);
    try {
      return utf8.decode(b);
    } catch {
      throw malformed(`${this.what}: field ${field} is not UTF-8 (${b.length} bytes at offset ${this.pos - b.length})`);
    }
  }

  int(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A str field that must hold exactly 8 bytes: an unsigned 64-bit value. */
  u64Str(field: string): bigint {
    return this.fixed(field, 8).readBigUInt64LE(0);
  }

  i64Str(field: string): bigint {
    return this.fixed(field, 8).readBigInt64LE(0);
  }

  i32Str(field: string): number {
    return this.fixed(field, 4).readInt32LE(0);
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  rest(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }

  /** Fails unless every byte was consumed (the decoders read exactly what the sender pushed). */
  end(): void {
    if (!this.atEnd()) throw malformed(`${this.what}: ${this.remaining} unexpected bytes after the last field (offset ${this.pos})`);
  }

  private fixed(field: string, size: number): Buffer {
    const b = this.strBytes(field);
    if (b.length !== size) {
      throw malformed(
        `${this.what}: field ${field} holds ${b.length} bytes, expected ${size} (ulbridge reads packets of 64-bit little-endian OpenSIPS builds only)`,
      );
    }
    return b;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw malformed(`${this.what}: field ${field} needs ${n} bytes at offset ${this.pos}, only ${this.buf.length - this.pos} left`);
    }
  }
}

/** Builds a whole packet (_bin_init() + pushes + set_len()). */
export function encodeBinPacket(p: BinPacket): Buffer {
  const cap = Buffer.from(p.capability, 'utf8');
  const total = BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE + cap.length + BIN_CMD_FIELD_SIZE + p.body.length;
  if (total > BIN_MAX_PACKET_SIZE) throw malformed(`a BIN packet holds at most ${BIN_MAX_PACKET_SIZE} bytes, this one would be ${total}`);
  const out = Buffer.alloc(total);
  MARKER.copy(out, 0);
  out.writeUInt32LE(total, BIN_MARKER_SIZE);
  out.writeInt16LE(p.version, BIN_MARKER_SIZE + BIN_PKG_LEN_SIZE);
  out.writeUInt16LE(cap.length, BIN_HEADER_SIZE);
  cap.copy(out, BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE);
  out.writeInt32LE(p.type, BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE + cap.length);
  p.body.copy(out, BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE + cap.length + BIN_CMD_FIELD_SIZE);
  return out;
}

/** Parses one whole packet (call_callbacks() + bin_init_buffer()), with the checks 3.6 added. */
export function decodeBinPacket(buf: Buffer): BinPacket {
  if (buf.length < BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE + BIN_CMD_FIELD_SIZE) throw malformed(`BIN packet too short: ${buf.length} bytes`);
  if (!buf.subarray(0, BIN_MARKER_SIZE).equals(MARKER)) {
    throw malformed(`not a BIN packet: marker ${JSON.stringify(buf.subarray(0, 4).toString('latin1'))}, expected "P4CK"`);
  }
  const len = buf.readUInt32LE(BIN_MARKER_SIZE);
  if (len !== buf.length) throw malformed(`BIN packet length field says ${len} bytes, the buffer holds ${buf.length}`);
  const version = buf.readInt16LE(BIN_MARKER_SIZE + BIN_PKG_LEN_SIZE);
  const capLen = buf.readUInt16LE(BIN_HEADER_SIZE);
  if (capLen > len - BIN_HEADER_SIZE - BIN_LEN_FIELD_SIZE - BIN_CMD_FIELD_SIZE) {
    throw malformed(`BIN packet capability length ${capLen} runs past the packet (${len} bytes)`);
  }
  const capStart = BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE;
  const capability = buf.subarray(capStart, capStart + capLen).toString('utf8');
  const type = buf.readInt32LE(capStart + capLen);
  return { version, capability, type, body: Buffer.from(buf.subarray(capStart + capLen + BIN_CMD_FIELD_SIZE)) };
}

/**
 * Splits a proto_bin TCP byte stream into whole packets (bin_read_req(): the marker, then the
 * length field says where the packet ends). Feed chunks in; complete packets come out.
 */
export class BinStreamSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.pending.length < BIN_MARKER_SIZE + BIN_PKG_LEN_SIZE) break;
      if (!this.pending.subarray(0, BIN_MARKER_SIZE).equals(MARKER)) {
        throw malformed(`BIN stream out of step: expected "P4CK", got ${this.pending.subarray(0, 4).toString('hex')}`);
      }
      const len = this.pending.readUInt32LE(BIN_MARKER_SIZE);
      if (len < BIN_HEADER_SIZE + BIN_LEN_FIELD_SIZE + BIN_CMD_FIELD_SIZE || len > BIN_MAX_PACKET_SIZE) {
        throw malformed(`BIN stream: impossible packet length ${len}`);
      }
      if (this.pending.length < len) break;
      out.push(Buffer.from(this.pending.subarray(0, len)));
      this.pending = this.pending.subarray(len);
    }
    return out;
  }

  /** Bytes received but not yet a whole packet. */
  get buffered(): number {
    return this.pending.length;
  }
}
