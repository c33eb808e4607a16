import { DecodeError } from './errors.js';
import {
  decodeUtf8,
  describeJson,
  field,
  hasMarkEscape,
  isJsonObject,
  parseJsonPart,
  parseJsonText,
  type JsonObject,
  type JsonValue,
} from './json.js';

/**
 * Debezium change events as the Kafka Connect JSON converter writes them (Debezium 3.x,
 * PostgreSQL, MySQL and MariaDB connectors).
 *
 * With `value.converter.schemas.enable=true` a value is `{"schema": <Connect schema>, "payload":
 * <envelope>}`; with `false` it is the bare envelope. A delete is followed by a tombstone: same key,
 * null value (`tombstones.on.delete=true`, the default). The envelope:
 *
 *     { "before": row | null, "after": row | null, "source": {...}, "op": "c|u|d|r|t",
 *       "ts_ms": connector processing time, "ts_us", "ts_ns", "transaction": null | {...} }
 *
 * - op `r` = snapshot read, `c` = insert, `u` = update, `d` = delete (before = last state, after =
 *   null), `t` = truncate (before and after null).
 * - `before` of an update/delete holds all columns only with PostgreSQL `REPLICA IDENTITY FULL`
 *   (otherwise the key alone) or MySQL `binlog_row_image=FULL` (the default).
 * - Temporal columns with the default `time.precision.mode=adaptive`: PostgreSQL `timestamp` (6) is
 *   `io.debezium.time.MicroTimestamp` (int64 microseconds), MySQL `DATETIME` (0-3) is
 *   `io.debezium.time.Timestamp` (int64 milliseconds), `DATETIME(4-6)` MicroTimestamp — each the
 *   wall-clock value as if it were UTC. `REAL`/`FLOAT` are float/double, `BIGINT` int64, MySQL
 *   `INT UNSIGNED` int64.
 *
 * The types below are the documented shapes after validation, with int64 fields as bigint.
 */

export type DebeziumOp = 'c' | 'u' | 'd' | 'r' | 't';
export const DEBEZIUM_OPS: readonly DebeziumOp[] = ['c', 'u', 'd', 'r', 't'];

/** source.snapshot: a string enum in Debezium 2+/3.x, a boolean in older releases. */
export type SnapshotMarker = 'true' | 'first' | 'first_in_data_collection' | 'last_in_data_collection' | 'last' | 'false' | 'incremental';
export const SNAPSHOT_MARKERS: readonly SnapshotMarker[] = [
  'true',
  'first',
  'first_in_data_collection',
  'last_in_data_collection',
  'last',
  'false',
  'incremental',
];

interface CommonSource {
  version: string;
  name: string;
  /** When the database made the change (commit time in streaming, read time in snapshots). */
  ts_ms: bigint;
  snapshot: SnapshotMarker;
  db: string;
}

export interface PostgresSource extends CommonSource {
  connector: 'postgresql';
  schema: string;
  table: string;
  txId: bigint | null;
  /** WAL position of the change (for snapshot reads: the snapshot's position). */
  lsn: bigint;
  /** JSON text `["<last commit lsn>", "<lsn>"]`, either may be null. */
  sequence: string | null;
}

export interface MysqlSource extends CommonSource {
  /** Debezium's MariaDB connector reports `mariadb`; the block is the same. */
  connector: 'mysql' | 'mariadb';
  table: string | null;
  server_id: bigint;
  gtid: string | null;
  /** Binlog file name, e.g. `mysql-bin.000003`. */
  file: string;
  /** Position of the event in that file. */
  pos: bigint;
  /** Row index within the binlog event (0 for the first row). */
  row: bigint;
}

export type DebeziumSource = PostgresSource | MysqlSource;

export interface DebeziumEnvelope<Row> {
  before: Row | null;
  after: Row | null;
  source: DebeziumSource;
  op: DebeziumOp;
  ts_ms: bigint | null;
}

/** A Kafka Connect schema as the JSON converter writes it (`schemas.enable=true`). */
export type ConnectType =
  'int8' | 'int16' | 'int32' | 'int64' | 'float' | 'double' | 'boolean' | 'string' | 'bytes' | 'array' | 'map' | 'struct';
const CONNECT_TYPES: ReadonlySet<string> = new Set<ConnectType>([
  'int8',
  'int16',
  'int32',
  'int64',
  'float',
  'double',
  'boolean',
  'string',
  'bytes',
  'array',
  'map',
  'struct',
]);

/** One field of a struct schema: its Connect type, semantic name and parameters. */
export interface FieldSchema {
  type: ConnectType;
  optional: boolean;
  /** Semantic type, e.g. io.debezium.time.MicroTimestamp. */
  name: string | null;
  parameters: Readonly<Record<string, string>>;
}

/** Field name -> schema, for the before/after row structs and the source struct. */
export type StructSchema = ReadonlyMap<string, FieldSchema>;

export interface EnvelopeSchemas {
  before: StructSchema | null;
  after: StructSchema | null;
  source: StructSchema | null;
}

/** An unwrapped, not yet validated envelope. */
export interface RawEnvelope {
  payload: JsonObject;
  /** Null when the converter ran with schemas.enable=false. */
  schemas: EnvelopeSchemas | null;
}

export type EnvelopeRead = { kind: 'tombstone' } | { kind: 'envelope'; envelope: RawEnvelope };

/**
 * Unwraps a parsed message value: `null` (tombstone), `{schema, payload}` or a bare envelope.
 * Checks only the outer shape; fields are validated by their readers.
 */
export function readEnvelope(value: JsonValue): EnvelopeRead {
  if (value === null) return { kind: 'tombstone' };
  if (!isJsonObject(value)) {
    throw new DecodeError('NOT_AN_ENVELOPE', `value is ${describeJson(value)}, not a Debezium change event`);
  }
  const hasSchema = Object.hasOwn(value, 'schema');
  const hasPayload = Object.hasOwn(value, 'payload');
  if (hasSchema || hasPayload) {
    if (!hasPayload) throw new DecodeError('NOT_AN_ENVELOPE', 'value has "schema" but no "payload": not a Debezium change event');
    const payload = value.payload as JsonValue;
    const schema = field(value, 'schema');
    // An old-style tombstone written with schemas: {"schema": null, "payload": null}.
    if (payload === null && (schema === null || schema === undefined)) return { kind: 'tombstone' };
    if (!isJsonObject(payload)) {
      throw new DecodeError('NOT_AN_ENVELOPE', `value.payload is ${describeJson(payload)}, not a Debezium change event`);
    }
    requireEnvelopeFields(payload);
    const schemas = schema === null || schema === undefined ? null : readEnvelopeSchemas(schema);
    return { kind: 'envelope', envelope: { payload, schemas } };
  }
  requireEnvelopeFields(value);
  return { kind: 'envelope', envelope: { payload: value, schemas: null } };
}

/**
 * readEnvelope(parseJsonBytes(value, 'value')) without decoding, parsing and walking the same
 * value schema for every message. With value schemas, Debezium's JSON converter writes
 * `{"schema":S,"payload":P}`, and S (~80% of the bytes) changes only with the table's DDL. After a
 * message whose S parsed and read cleanly, its bytes are kept with the schemas read from it; a
 * later message whose bytes are exactly `{"schema":` S `,"payload":` P `}` has only P decoded and
 * parsed (at the depth it has in the whole text). The result and every error are the same as the
 * full read's: a message that does not match, or whose P alone cannot be decoded or parsed exactly
 * (see parseJsonPart) or is not an object, takes the full read. Holds the schemas of at most
 * `size` shapes (most recent first).
 */
export class EnvelopeReader {
  private entries: Array<{ prefix: Buffer; schemas: EnvelopeSchemas }> = [];
  constructor(private readonly size = 4) {}

  read(value: Buffer): EnvelopeRead {
    const n = value.length;
    if (n > 0 && value[n - 1] === 0x7d) {
      for (let i = 0; i < this.entries.length; i++) {
        const e = this.entries[i]!;
        const len = e.prefix.length;
        if (n > len + 1 && value[len] === 0x7b && value.compare(e.prefix, 0, len, 0, len) === 0) {
          const part = this.payload(value.subarray(len, n - 1));
          if (part === null) break;
          requireEnvelopeFields(part);
          if (i > 0) this.entries.unshift(...this.entries.splice(i, 1));
          return { kind: 'envelope', envelope: { payload: part, schemas: e.schemas } };
        }
      }
    }
    const text = decodeUtf8(value, 'value');
    const read = readEnvelope(parseJsonText(text, 'value'));
    if (read.kind === 'envelope' && read.envelope.schemas !== null) this.learn(text, read.envelope.schemas);
    return read;
  }

  private payload(bytes: Buffer): JsonObject | null {
    let text: string;
    try {
      text = decodeUtf8(bytes, 'value');
    } catch {
      return null;
    }
    const part = parseJsonPart(text, 1);
    return isJsonObject(part) ? part : null;
  }

  private learn(text: string, schemas: EnvelopeSchemas): void {
    const head = '{"schema":';
    if (!text.startsWith(head) || text.charCodeAt(head.length) !== 0x7b) return;
    const end = objectEnd(text, head.length);
    if (end < 0 || !text.startsWith(',"payload":', end)) return;
    const schema = text.slice(head.length, end);
    // Only a schema text that cannot change which path the whole message takes.
    if (hasMarkEscape(schema) || parseJsonPart(schema, 1) === null) return;
    this.entries.unshift({ prefix: Buffer.from(text.slice(0, end + ',"payload":'.length), 'utf8'), schemas });
    if (this.entries.length > this.size) this.entries.pop();
  }
}

/** Index just past the JSON object (or array) that starts at `start`, or -1. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

function requireEnvelopeFields(payload: JsonObject): void {
  for (const name of ['op', 'source'] as const) {
    if (!Object.hasOwn(payload, name)) {
      throw new DecodeError('NOT_AN_ENVELOPE', `value has no "${name}" field: not a Debezium change event`);
    }
  }
}

/** The op, validated. */
export function readOp(payload: JsonObject): DebeziumOp {
  const op = field(payload, 'op');
  if (typeof op !== 'string') {
    throw new DecodeError('WRONG_TYPE', `op is ${describeJson(op)}, expected a string`);
  }
  if (!(DEBEZIUM_OPS as readonly string[]).includes(op)) {
    throw new DecodeError('UNKNOWN_OP', `op "${op}" is not a Debezium row operation (c, u, d, r or t)`);
  }
  return op as DebeziumOp;
}

function readEnvelopeSchemas(schema: JsonValue): EnvelopeSchemas {
  const fields = structFields(schema, 'value.schema');
  const sub = (name: string): StructSchema | null => {
    const s = fields.get(name);
    return s === undefined ? null : structSchema(s, `value.schema field "${name}"`);
  };
  return { before: sub('before'), after: sub('after'), source: sub('source') };
}

/** The raw field schemas of a struct schema, by field name. */
function structFields(schema: JsonValue, what: string): Map<string, JsonObject> {
  if (!isJsonObject(schema) || schema.type !== 'struct' || !Array.isArray(schema.fields)) {
    throw new DecodeError('NOT_AN_ENVELOPE', `${what} is not a Kafka Connect struct schema`);
  }
  const out = new Map<string, JsonObject>();
  for (const f of schema.fields) {
    if (!isJsonObject(f) || typeof f.field !== 'string' || typeof f.type !== 'string') {
      throw new DecodeError('NOT_AN_ENVELOPE', `${what} has a field entry without "field" and "type"`);
    }
    out.set(f.field, f);
  }
  return out;
}

function structSchema(schema: JsonObject, what: string): StructSchema {
  const out = new Map<string, FieldSchema>();
  for (const [name, f] of structFields(schema, what)) out.set(name, fieldSchema(f, `${what}.${name}`));
  return out;
}

function fieldSchema(f: JsonObject, what: string): FieldSchema {
  const type = f.type as string;
  if (!CONNECT_TYPES.has(type)) {
    throw new DecodeError('NOT_AN_ENVELOPE', `${what} has unknown Kafka Connect type "${type}"`);
  }
  const parameters: Record<string, string> = {};
  const params = field(f, 'parameters');
  if (isJsonObject(params)) {
    for (const [k, v] of Object.entries(params)) if (typeof v === 'string') parameters[k] = v;
  }
  const name = field(f, 'name');
  return {
    type: type as ConnectType,
    optional: field(f, 'optional') === true,
    name: typeof name === 'string' ? name : null,
    parameters,
  };
}
