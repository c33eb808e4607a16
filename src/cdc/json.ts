import { LosslessNumber, parse } from 'lossless-json';
import { DecodeError } from './errors.js';

/**
 * JSON as Debezium's JSON converter writes it, parsed without ever passing a number through a JS
 * `number`: every number stays a LosslessNumber holding its source text, so int64 columns
 * (contact_id up to 2^62, LSNs, binlog positions) keep every digit. Readers convert each field to
 * bigint or number according to its column.
 */
export type JsonValue = null | boolean | string | LosslessNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export { LosslessNumber };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a Kafka message part; `what` names it in error messages ("value", "key"). */
export function parseJsonBytes(bytes: Buffer | Uint8Array, what: string): JsonValue {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new DecodeError('MALFORMED_JSON', `${what} is not valid UTF-8`);
  }
  return parseJsonText(text, what);
}

export function parseJsonText(text: string, what: string): JsonValue {
  try {
    return parse(text) as JsonValue;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new DecodeError('MALFORMED_JSON', `${what} is not valid JSON: ${detail}`);
  }
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof LosslessNumber);
}

export function isJsonNumber(v: JsonValue | undefined): v is LosslessNumber {
  return v instanceof LosslessNumber;
}

/** An own property of a parsed object, or undefined when absent. */
export function field(obj: JsonObject, name: string): JsonValue | undefined {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/** "a string", "an object", ... for error messages. */
export function describeJson(v: JsonValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (v instanceof LosslessNumber) return INTEGER_TEXT.test(v.value) ? 'an integer' : 'a number';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'boolean':
      return 'a boolean';
    default:
      return 'an object';
  }
}

/** The decimal integer forms Jackson writes for int8..int64 (no exponent, no fraction). */
export const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
