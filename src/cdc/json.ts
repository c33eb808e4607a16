import { LosslessNumber, parse } from 'lossless-json';
import { DecodeError } from './errors.js';

/**
 * JSON as Debezium's JSON converter writes it, with every number exact, so int64 columns
 * (contact_id up to 2^62, LSNs, binlog positions) keep every digit: a number is a JS `number`
 * where that is exact, else a LosslessNumber holding its decimal text. Readers take both
 * (jsonInteger, jsonFloat) and convert each field to bigint or number according to its column.
 *
 * Fast path (profiled: lossless-json took ~40% of the ingest's CPU, at a quarter of JSON.parse's
 * speed): integer literals of 16 or more digits (contact ids, ts_ns, LSNs: those a double may not
 * hold) are first quoted with a marker, then JSON.parse runs; every marked string becomes a
 * LosslessNumber of its exact digits, every other number stays the double JSON.parse made. That
 * is exact for every integer within +-(2^53 - 1) (an unmarked integer has at most 15 digits) and
 * for every double (the value Jackson wrote is the value parsed). Numbers stay doubles: a
 * LosslessNumber per number cost an allocation and a regex check each (~1 µs of a 17 µs decode
 * with value schemas). The marker is U+0001, written as the escape \u0001: a message that holds
 * that escape itself takes the slow path, so a parsed string starting with U+0001 can only be a
 * marked number (raw U+0001 is invalid in JSON); a match inside a string makes the quoted text
 * invalid. Anything else (a parse error, a number that still lost digits, e.g. 1e300) is parsed
 * again with lossless-json, every number a LosslessNumber, which also words the errors. Two
 * differences, on input Jackson never writes: an integer column written as `1.0` or `1e3` reads as
 * the integer it denotes, and an object with a duplicate key keeps the last value (lossless-json
 * refuses it: MALFORMED_JSON). Which path a message takes depends on its whole text, so such a
 * message is still decoded the same way every time it is read.
 */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** A number: a double where that is exact, else its exact decimal text. */
export type JsonNumber = number | LosslessNumber;
export interface JsonObject {
  [key: string]: JsonValue;
}

export { LosslessNumber };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a Kafka message part; `what` names it in error messages ("value", "key"). */
export function parseJsonBytes(bytes: Buffer | Uint8Array, what: string): JsonValue {
  return parseJsonText(decodeUtf8(bytes, what), what);
}

/** A Kafka message part as text; `what` names it in the error ("value", "key"). */
export function decodeUtf8(bytes: Buffer | Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DecodeError('MALFORMED_JSON', `${what} is not valid UTF-8`);
  }
}

export function parseJsonText(text: string, what: string): JsonValue {
  const fast = parseFast(text);
  if (fast === TOO_DEEP)
    throw new DecodeError('NOT_AN_ENVELOPE', `${what} nests more than ${MAX_DEPTH} levels deep: not a Debezium change event`);
  if (fast !== INEXACT) return fast;
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

export function isJsonNumber(v: JsonValue | undefined): v is JsonNumber {
  return typeof v === 'number' || v instanceof LosslessNumber;
}

/** The integer a number denotes (no fraction, no exponent in its text), or null for anything else. */
export function jsonInteger(v: JsonValue | undefined): bigint | null {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : null;
  return v instanceof LosslessNumber && INTEGER_TEXT.test(v.value) ? BigInt(v.value) : null;
}

/** A number as a double (possibly rounded, or infinite for text beyond the double range). */
export function jsonFloat(v: JsonNumber): number {
  return typeof v === 'number' ? v : Number(v.value);
}

/** A number's text, for messages. */
export function jsonNumberText(v: JsonNumber): string {
  return typeof v === 'number' ? String(v) : v.value;
}

/** An own property of a parsed object, or undefined when absent. */
export function field(obj: JsonObject, name: string): JsonValue | undefined {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/** "a string", "an object", ... for error messages. */
export function describeJson(v: JsonValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (isJsonNumber(v)) return jsonInteger(v) !== null ? 'an integer' : 'a number';
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

const INEXACT = Symbol('inexact');
const TOO_DEEP = Symbol('too deep');
/**
 * Deeper than any Debezium value (about 7 levels with schemas). JSON.parse takes any depth, the
 * walk below recurses: a 10,000-deep array (20 KB) overflowed the stack there, and the decoder
 * dead-lettered it as INTERNAL.
 */
const MAX_DEPTH = 64;
/** The escape `\u0001` as JSON text. */
const MARK_ESCAPE = '\\u0001';
const LONG_INTEGER = /([:,[]\s*)(-?\d{16,})(?=\s*[,}\]])/g;

function parseFast(text: string, depth = 0): JsonValue | typeof INEXACT | typeof TOO_DEEP {
  if (text.includes(MARK_ESCAPE)) return INEXACT;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(LONG_INTEGER, `$1"${MARK_ESCAPE}$2"`));
  } catch {
    return INEXACT;
  }
  return exactNumbers(parsed, depth);
}

/**
 * One member value of a JSON object text, parsed as parseJsonText would parse it in place, at
 * nesting depth `depth` of the whole text: the value, or null when only the whole text can tell
 * (the fast path does not apply to the part: the whole text would take lossless-json's path, or is
 * too deep, or is not JSON). Exact only for a part that cannot touch its neighbours' text: a
 * value that starts with `{` or `[` and ends with `}` or `]`, between `:` and `,` / `}` of a
 * compact object (the callers check that). Used by the envelope schema cache (envelope.ts).
 */
export function parseJsonPart(text: string, depth: number): JsonValue | null {
  const fast = parseFast(text, depth);
  return fast === INEXACT || fast === TOO_DEEP ? null : fast;
}

/** The text `\u0001` that sends a whole message to lossless-json's path. */
export function hasMarkEscape(text: string): boolean {
  return text.includes(MARK_ESCAPE);
}

/**
 * The parsed tree with its marked strings as LosslessNumbers (its numbers stay doubles), or INEXACT
 * when a number lost digits, or TOO_DEEP beyond MAX_DEPTH levels.
 */
function exactNumbers(v: unknown, depth: number): JsonValue | typeof INEXACT | typeof TOO_DEEP {
  if (typeof v === 'number') {
    // Beyond 2^53 digits were lost; beyond the double range (1e400) it is Infinity.
    if (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v))) return INEXACT;
    return v;
  }
  if (typeof v === 'string') return v.charCodeAt(0) === 1 ? new LosslessNumber(v.slice(1)) : v;
  if (v === null || typeof v !== 'object') return v as JsonValue;
  if (depth >= MAX_DEPTH) return TOO_DEEP;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i];
      const x = exactNumbers(e, depth + 1);
      if (x === INEXACT || x === TOO_DEEP) return x;
      if (x !== e) v[i] = x;
    }
    return v as JsonValue[];
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const e = o[k];
    const x = exactNumbers(e, depth + 1);
    if (x === INEXACT || x === TOO_DEEP) return x;
    if (x !== e) o[k] = x;
  }
  return o as JsonObject;
}
