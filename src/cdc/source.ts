import type { SourceDb, SourcePosition } from '../log/event.js';
import {
  SNAPSHOT_MARKERS,
  type DebeziumOp,
  type DebeziumSource,
  type MysqlSource,
  type PostgresSource,
  type SnapshotMarker,
} from './envelope.js';
import { DecodeError } from './errors.js';
import { describeJson, field, isJsonObject, jsonInteger, type JsonObject, type JsonValue } from './json.js';

/**
 * The envelope's `source` block: validated into the documented shape, then mapped to the event's
 * source fields. Position tuple (schemas/registration-event.avsc, Source.position):
 * - PostgreSQL: (lsn, 0 for snapshot reads else 1, 0);
 * - MySQL/MariaDB: (binlog file number, pos, 0 for snapshot reads else row + 1).
 */

export interface SourceFacts {
  connector: SourceDb;
  /** schema.table (PostgreSQL) or database.table (MySQL), as Debezium reported it. */
  table: string;
  position: SourcePosition;
  tsMs: bigint;
  /** PostgreSQL: the 32-bit xid of the source transaction (source.txId); null for MySQL/MariaDB. */
  txId: bigint | null;
}

export function readSource(payload: JsonObject): DebeziumSource {
  const src = field(payload, 'source');
  if (src === undefined || src === null) throw new DecodeError('MISSING_FIELD', 'source is missing');
  if (!isJsonObject(src)) throw new DecodeError('WRONG_TYPE', `source is ${describeJson(src)}, expected an object`);
  const connector = src.connector;
  if (typeof connector !== 'string') {
    throw new DecodeError(
      connector === undefined || connector === null ? 'MISSING_FIELD' : 'WRONG_TYPE',
      `source.connector is ${describeJson(connector)}, expected a string`,
    );
  }
  // Plain object literals, no spread of a common part: V8 builds a spread literal property by
  // property (profiled: readSource's self time fell from 1.5 s to 0.05 s over 500,000 messages).
  const version = optString(src, 'version') ?? '';
  const name = optString(src, 'name') ?? '';
  const ts_ms = reqInt(src, 'ts_ms');
  const snapshot = snapshotMarker(src);
  const db = reqString(src, 'db');
  if (connector === 'postgresql') {
    const pg: PostgresSource = {
      version,
      name,
      ts_ms,
      snapshot,
      db,
      connector,
      schema: reqString(src, 'schema'),
      table: reqString(src, 'table'),
      txId: optInt(src, 'txId'),
      lsn: reqInt(src, 'lsn'),
      sequence: optString(src, 'sequence'),
    };
    return pg;
  }
  if (connector === 'mysql' || connector === 'mariadb') {
    const my: MysqlSource = {
      version,
      name,
      ts_ms,
      snapshot,
      db,
      connector,
      table: optString(src, 'table'),
      server_id: reqInt(src, 'server_id'),
      gtid: optString(src, 'gtid'),
      file: reqString(src, 'file'),
      pos: reqInt(src, 'pos'),
      row: reqInt(src, 'row'),
    };
    return my;
  }
  throw new DecodeError('UNKNOWN_CONNECTOR', `source.connector "${connector}" is not supported: expected postgresql, mysql or mariadb`);
}

/** Event source facts for one change. */
export function sourceFacts(src: DebeziumSource, op: DebeziumOp): SourceFacts {
  const snapshotRead = op === 'r';
  if (src.connector === 'postgresql') {
    if (src.lsn < 0n) throw new DecodeError('OUT_OF_RANGE', `source.lsn = ${src.lsn} is negative`);
    return {
      connector: 'POSTGRESQL',
      table: `${src.schema}.${src.table}`,
      position: { major: src.lsn, minor: snapshotRead ? 0n : 1n, seq: 0n },
      tsMs: src.ts_ms,
      txId: src.txId,
    };
  }
  if (src.table === null) throw new DecodeError('MISSING_FIELD', 'source.table is null');
  if (src.pos < 0n) throw new DecodeError('OUT_OF_RANGE', `source.pos = ${src.pos} is negative`);
  if (src.row < 0n) throw new DecodeError('OUT_OF_RANGE', `source.row = ${src.row} is negative`);
  return {
    connector: 'MYSQL',
    table: `${src.db}.${src.table}`,
    position: { major: binlogFileNumber(src.file), minor: src.pos, seq: snapshotRead ? 0n : src.row + 1n },
    tsMs: src.ts_ms,
    txId: null,
  };
}

/** `mysql-bin.000003` -> 3n: the numeric extension MySQL and MariaDB give every binlog file. */
export function binlogFileNumber(file: string): bigint {
  const m = /\.([0-9]+)$/.exec(file);
  if (!m) throw new DecodeError('WRONG_TYPE', `source.file "${file}" is not a binlog file name ending in .NNNNNN`);
  return BigInt(m[1]!);
}

function snapshotMarker(src: JsonObject): SnapshotMarker {
  const v = field(src, 'snapshot');
  if (v === undefined || v === null) return 'false';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string' && (SNAPSHOT_MARKERS as readonly string[]).includes(v)) return v as SnapshotMarker;
  throw new DecodeError(
    'WRONG_TYPE',
    `source.snapshot is ${typeof v === 'string' ? `"${v}"` : describeJson(v)}, expected one of ${SNAPSHOT_MARKERS.join(', ')}`,
  );
}

function reqString(src: JsonObject, name: string): string {
  const v = optString(src, name);
  if (v === null) throw new DecodeError('MISSING_FIELD', `source.${name} is ${describeJson(field(src, name))}`);
  return v;
}

function optString(src: JsonObject, name: string): string | null {
  const v = field(src, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new DecodeError('WRONG_TYPE', `source.${name} is ${describeJson(v)}, expected a string`);
  return v;
}

function reqInt(src: JsonObject, name: string): bigint {
  const v = optInt(src, name);
  if (v === null) throw new DecodeError('MISSING_FIELD', `source.${name} is ${describeJson(field(src, name))}`);
  return v;
}

const INT64_LOW = -(2n ** 63n);
const INT64_HIGH = 2n ** 63n - 1n;

function optInt(src: JsonObject, name: string): bigint | null {
  const v: JsonValue | undefined = field(src, name);
  if (v === undefined || v === null) return null;
  const n = jsonInteger(v);
  if (n === null) throw new DecodeError('WRONG_TYPE', `source.${name} is ${describeJson(v)}, expected an integer`);
  if (n < INT64_LOW || n > INT64_HIGH) throw new DecodeError('OUT_OF_RANGE', `source.${name} = ${n} is outside int64`);
  return n;
}
