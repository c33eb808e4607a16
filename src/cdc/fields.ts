import type { FieldSchema, StructSchema } from './envelope.js';
import { DecodeError } from './errors.js';
import { describeJson, field, isJsonNumber, jsonFloat, jsonInteger, jsonNumberText, type JsonObject, type JsonValue } from './json.js';

/**
 * Typed readers for the columns of a row image (`before` or `after`). Each checks presence,
 * nullability, the Kafka Connect type when the converter sent schemas, and the JSON type, and
 * throws a DecodeError naming the field (`after.cseq`) otherwise.
 */

/** Debezium's default `unavailable.value.placeholder` for unchanged TOASTed columns. */
export const UNAVAILABLE_PLACEHOLDER = '__debezium_unavailable_value';

export interface RowImage {
  /** 'before' or 'after': prefixes field names in messages. */
  image: 'before' | 'after';
  row: JsonObject;
  /** Field schemas of the row struct, or null without schemas. */
  schema: StructSchema | null;
  /** "a 2.2 location table", for messages. */
  tableLabel: string;
}

export interface ColumnValue {
  path: string;
  value: JsonValue;
  schema: FieldSchema | null;
}

/** The column's value, or null for a nullable column holding NULL. */
export function column(img: RowImage, name: string, nullable: boolean): ColumnValue | null {
  const path = `${img.image}.${name}`;
  const value = field(img.row, name);
  if (value === undefined) {
    throw new DecodeError('MISSING_FIELD', `${path} is missing (${img.tableLabel} has a column ${name})`);
  }
  if (value === null) {
    if (nullable) return null;
    throw new DecodeError('MISSING_FIELD', `${path} is null, but ${name} is NOT NULL in ${img.tableLabel}`);
  }
  return { path, value, schema: img.schema?.get(name) ?? null };
}

export function hasColumn(img: RowImage, name: string): boolean {
  return Object.hasOwn(img.row, name);
}

function wrongType(c: ColumnValue, expected: string): DecodeError {
  const got = c.schema
    ? `has Kafka Connect type ${c.schema.type}${c.schema.name ? ` (${c.schema.name})` : ''}`
    : `is ${describeJson(c.value)}`;
  return new DecodeError('WRONG_TYPE', `${c.path} ${got}, expected ${expected}`);
}

function checkSchemaType(c: ColumnValue, allowed: readonly string[], expected: string): void {
  if (c.schema && !allowed.includes(c.schema.type)) throw wrongType(c, expected);
}

/** U+0000, or a UTF-16 surrogate that is not half of a pair. */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this pattern looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string column; `maxLength` counts characters (Unicode code points), as VARCHAR(n) does. */
export function readString(
  img: RowImage,
  name: string,
  opts: { nullable: boolean; maxLength: number | null; sqlType: string },
): string | null {
  const c = column(img, name, opts.nullable);
  if (c === null) return null;
  checkSchemaType(c, ['string'], 'a string');
  if (typeof c.value !== 'string') throw wrongType(c, 'a string');
  const bad = UNSTORABLE.exec(c.value);
  if (bad) {
    // JSON can carry these (as \u0000, \ud800 escapes), no database text column can: PostgreSQL
    // refuses U+0000 and every UTF-8 column a lone surrogate. Accepted, a NUL stalled the
    // projection (its target INSERT fails for ever) and a lone surrogate became U+FFFD silently.
    const what = bad[0] === '\u0000' ? 'U+0000 (NUL)' : `a lone surrogate U+${bad[0].charCodeAt(0).toString(16).toUpperCase()}`;
    throw new DecodeError(
      'WRONG_TYPE',
      `${c.path} holds ${what} at character ${bad.index}, which no text column can store: expected a string of Unicode text`,
    );
  }
  if (c.value === UNAVAILABLE_PLACEHOLDER) {
    throw new DecodeError(
      'UNAVAILABLE_VALUE',
      `${c.path} holds Debezium's placeholder for an unchanged TOASTed value: set REPLICA IDENTITY FULL on the source table`,
    );
  }
  // Code points never outnumber UTF-16 units: only a string longer in units can be too long.
  if (opts.maxLength !== null && c.value.length > opts.maxLength) {
    const length = [...c.value].length;
    if (length > opts.maxLength) {
      throw new DecodeError(
        'OVERSIZED_VALUE',
        `${c.path} is ${length} characters, longer than ${name} ${opts.sqlType} in ${img.tableLabel}`,
      );
    }
  }
  return c.value;
}

const INT_TYPES = ['int8', 'int16', 'int32', 'int64'] as const;
export const INT32_MIN = -(2n ** 31n);
export const INT32_MAX = 2n ** 31n - 1n;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = 'org.apache.kafka.connect.data.Decimal';

/**
 * An integer column as bigint, range-checked against [min, max] (`range` names the range in
 * messages). Also takes MySQL BIGINT UNSIGNED sent with `bigint.unsigned.handling.mode=precise`
 * (a Connect Decimal of scale 0, base64 bytes), which needs schemas to be recognised.
 */
export function readInteger(
  img: RowImage,
  name: string,
  opts: { nullable: boolean; min: bigint; max: bigint; range: string },
): bigint | null {
  const c = column(img, name, opts.nullable);
  if (c === null) return null;
  let n: bigint;
  if (c.schema?.name === DECIMAL && c.schema.type === 'bytes') {
    n = decimalInteger(c);
  } else {
    checkSchemaType(c, INT_TYPES, 'an integer');
    const v = jsonInteger(c.value);
    if (v === null) throw wrongType(c, 'an integer');
    n = v;
  }
  if (n < opts.min || n > opts.max) {
    throw new DecodeError('OUT_OF_RANGE', `${c.path} = ${n} is outside ${opts.range}`);
  }
  return n;
}

function decimalInteger(c: ColumnValue): bigint {
  if ((c.schema?.parameters.scale ?? '0') !== '0') throw wrongType(c, 'an integer (Decimal of scale 0)');
  if (typeof c.value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(c.value)) {
    throw wrongType(c, 'base64 bytes of a Decimal');
  }
  const bytes = Buffer.from(c.value, 'base64');
  if (bytes.length === 0) return 0n;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  // Big-endian two's complement.
  if (bytes[0]! & 0x80) n -= 1n << BigInt(bytes.length * 8);
  return n;
}

/** A REAL/FLOAT/DOUBLE column as a JS number (also accepts integer text such as `1`). */
export function readFloat(img: RowImage, name: string, opts: { nullable: boolean }): number | null {
  const c = column(img, name, opts.nullable);
  if (c === null) return null;
  checkSchemaType(c, ['float', 'double'], 'a floating-point number');
  if (!isJsonNumber(c.value)) throw wrongType(c, 'a floating-point number');
  const n = jsonFloat(c.value);
  if (!Number.isFinite(n)) throw new DecodeError('OUT_OF_RANGE', `${c.path} = ${jsonNumberText(c.value)} is not a finite double`);
  return n;
}
