import { DateTime, IANAZone } from 'luxon';
import type { SourceDb } from '../log/event.js';
import { DecodeError } from './errors.js';
import { column, type RowImage } from './fields.js';
import { jsonInteger } from './json.js';

/**
 * DATETIME columns (`expires` up to 2.3, `last_modified` in every release) hold the registrar's
 * local wall-clock time: OpenSIPS writes localtime() and reads back with strptime() + mktime() with
 * tm_isdst = -1 (db_ut.c). Debezium sends that wall clock "as if UTC" (io.debezium.time.Timestamp,
 * MicroTimestamp). To get unix time we read the wall clock back in the source registrar's IANA
 * zone:
 * - a wall clock that does not exist (DST gap) moves forward by the gap, as glibc mktime does
 *   (02:30 on a spring-forward night in Europe/Berlin is 03:30 CEST);
 * - a wall clock that exists twice (DST overlap) is taken as the later instant (standard time).
 *   glibc's mktime picks either, depending on earlier calls; the later one never makes a binding
 *   expire earlier than OpenSIPS could.
 * - "permanent" is expires = 0, which a registrar stores as localtime(0): 1970-01-01 00:00:00 on a
 *   UTC host, 01:00:00 in Europe/Berlin (and Europe/London: BST all of 1970), 1969-12-31 19:00:00
 *   in America/New_York. Read back in the same zone it is exactly 0 again, as mktime makes it; any
 *   other wall clock (e.g. 00:00:00 on a CET host, -3600) is a real, long expired time, as it is
 *   for OpenSIPS.
 */

/** A DATETIME value: a wall clock (Debezium's "as if UTC") or a real instant (ZonedTimestamp). */
export interface Datetime {
  kind: 'wall' | 'instant';
  /** Microseconds since 1970-01-01T00:00:00 of the wall clock (as UTC), or of the instant. */
  micros: bigint;
  path: string;
}

const MS = 'io.debezium.time.Timestamp';
const CONNECT_MS = 'org.apache.kafka.connect.data.Timestamp';
const MICROS = 'io.debezium.time.MicroTimestamp';
const NANOS = 'io.debezium.time.NanoTimestamp';
const ZONED = 'io.debezium.time.ZonedTimestamp';
const EXPECTED = 'a timestamp (io.debezium.time.Timestamp, MicroTimestamp, NanoTimestamp or ZonedTimestamp)';

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * Reads a NOT NULL DATETIME column. With schemas, the unit comes from the semantic type; without,
 * an integer is taken in the connector's default for the OpenSIPS column type (PostgreSQL
 * `timestamp`: microseconds; MySQL `DATETIME`: milliseconds) and a string as an ISO-8601 instant.
 */
export function readDatetime(img: RowImage, name: string, connector: SourceDb): Datetime {
  const c = column(img, name, false)!;
  const semantic = c.schema ? c.schema.name : null;
  if (c.schema && ![MS, CONNECT_MS, MICROS, NANOS, ZONED].includes(semantic ?? '')) {
    const got = `has Kafka Connect type ${c.schema.type}${semantic ? ` (${semantic})` : ''}`;
    throw new DecodeError('WRONG_TYPE', `${c.path} ${got}, expected ${EXPECTED}`);
  }
  if (typeof c.value === 'string' && (semantic === null || semantic === ZONED)) {
    const dt = DateTime.fromISO(c.value, { setZone: true });
    if (!dt.isValid) throw new DecodeError('WRONG_TYPE', `${c.path} is "${c.value}", expected an ISO-8601 timestamp with an offset`);
    return { kind: 'instant', micros: BigInt(dt.toMillis()) * 1000n, path: c.path };
  }
  const n = semantic === ZONED ? null : jsonInteger(c.value);
  if (n !== null) {
    const unit = semantic ?? (connector === 'POSTGRESQL' ? MICROS : MS);
    const micros = unit === MICROS ? n : unit === NANOS ? floorDiv(n, 1000n) : n * 1000n;
    return { kind: 'wall', micros, path: c.path };
  }
  const got = c.schema
    ? `is ${typeof c.value === 'string' ? 'a string' : 'not a string'} with semantic type ${semantic}`
    : `is not an integer or an ISO-8601 string`;
  throw new DecodeError('WRONG_TYPE', `${c.path} ${got}, expected ${EXPECTED}`);
}

/** Unix seconds of a DATETIME, a wall clock being read in `zone` as OpenSIPS's mktime reads it. */
export function datetimeToUnix(d: Datetime, zone: string): bigint {
  const seconds = floorDiv(d.micros, 1_000_000n);
  if (UTC_ZONES.has(zone)) {
    // A wall clock read in UTC is the instant itself: what the luxon round trip below returns,
    // without its two DateTime objects per column (profiled: luxon was ~4% of the ingest's CPU).
    // Same validity as luxon's: |ms| <= 8.64e15.
    const ms = Number(seconds) * 1000;
    if (!(ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS)) throw outOfRange(d);
    return seconds;
  }
  if (d.kind === 'instant') {
    checked(DateTime.fromSeconds(Number(seconds), { zone }), d);
    return seconds;
  }
  const wall = checked(DateTime.fromSeconds(Number(seconds), { zone: 'utc' }), d);
  const local = checked(
    DateTime.fromObject(
      { year: wall.year, month: wall.month, day: wall.day, hour: wall.hour, minute: wall.minute, second: wall.second },
      { zone },
    ),
    d,
  );
  return BigInt(local.toSeconds());
}

function checked(dt: DateTime, d: Datetime): DateTime {
  if (!dt.isValid) throw outOfRange(d);
  return dt;
}

function outOfRange(d: Datetime): DecodeError {
  return new DecodeError('OUT_OF_RANGE', `${d.path} = ${d.micros} microseconds is outside the supported date range`);
}

/** Zone names that are UTC at every instant (luxon accepts them case-insensitively; these are the common spellings). */
const UTC_ZONES: ReadonlySet<string> = new Set(['UTC', 'utc', 'Etc/UTC', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu']);
/** luxon's (and ECMAScript's) date range: +-8.64e15 ms around the epoch. */
const MAX_DATE_MS = 8.64e15;

export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
