import type { EventSource, RegistrationEvent } from '../log/event.js';
import type { MysqlSource } from './envelope.js';
import { UlbridgeError } from '../ops/errors.js';
import { RELEASE_NAMES, releaseProfile, type ReleaseName } from '../opensips/releases.js';
import { EnvelopeReader, readOp, type EnvelopeRead } from './envelope.js';
import { DecodeError } from './errors.js';
import { describeJson, field, isJsonObject, type JsonObject } from './json.js';
import { release21 } from './release21.js';
import { release22 } from './release22.js';
import { release24 } from './release24.js';
import {
  checkForeignColumns,
  checkMarkerColumn,
  fullImageFix,
  readRegistration,
  readRowKey,
  requireFullBeforeImage,
  rowImage,
  type DecodeSettings,
  type ReleaseFamily,
  type RowContext,
} from './row.js';
import { readSource, sourceFacts } from './source.js';
import { isValidTimeZone } from './time.js';

/**
 * One Debezium message value -> one canonical registration event:
 * - op r (snapshot read), c, u -> UPSERT with registration = after;
 * - op d -> DELETE with registration = before (needs a full before image);
 * - op t -> TRUNCATE with registration = null and rowKey 0;
 * - a tombstone (null value) -> skipped.
 * Anything else throws a DecodeError with a stable reason.
 */

export interface DecoderConfig {
  /** Configured source name: the log key prefix. */
  name: string;
  release: ReleaseName;
  /** IANA zone of the source registrar (DATETIME columns). */
  timeZone: string;
  /** Registrar case_sensitive. */
  caseSensitive: boolean;
}

export type Decoded = { kind: 'event'; event: RegistrationEvent } | { kind: 'tombstone' };

/** What a MySQL/MariaDB change event says of its transaction (reverse sync's own-write check, src/reverse/ownWrites.ts). */
export type BinlogTransaction = Pick<MysqlSource, 'gtid' | 'server_id' | 'snapshot'>;

/** A decoded change with the source transaction that made it: PostgreSQL xid, or the MySQL/MariaDB binlog's GTID and server. */
export interface DecodedChange {
  decoded: Decoded;
  /** PostgreSQL: source.txId; null for MySQL/MariaDB. */
  txId: bigint | null;
  /** MySQL/MariaDB: source.gtid, server_id and snapshot; null for PostgreSQL (and tombstones). */
  binlog: BinlogTransaction | null;
}

export interface Decoder {
  readonly config: Readonly<DecoderConfig>;
  readonly family: ReleaseFamily;
  /** Decodes one message value (null = Debezium tombstone). Throws DecodeError. */
  decode(value: Buffer | null): Decoded;
  /** decode(), plus the source transaction (reverse sync tells ulbridge's own writes by it). */
  decodeChange(value: Buffer | null): DecodedChange;
}

const FAMILIES: readonly ReleaseFamily[] = [release21, release22, release24];

export function releaseFamily(release: ReleaseName): ReleaseFamily {
  const f = FAMILIES.find((x) => x.releases.includes(release));
  if (!f) throw new UlbridgeError('UNKNOWN_RELEASE', `unknown release "${release}": valid releases are ${RELEASE_NAMES.join(', ')}`);
  return f;
}

export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Validates the configuration once; throws UlbridgeError('CONFIG_INVALID' | 'UNKNOWN_RELEASE'). */
export function createDecoder(config: DecoderConfig): Decoder {
  if (!SOURCE_NAME.test(config.name)) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `source name "${config.name}" must be letters, digits, '.', '_' or '-' (it prefixes every log key)`,
    );
  }
  if (!isValidTimeZone(config.timeZone)) {
    throw new UlbridgeError(
      'CONFIG_INVALID',
      `source "${config.name}": time zone "${config.timeZone}" is not an IANA zone name (e.g. UTC, Europe/Berlin)`,
    );
  }
  const profile = releaseProfile(config.release);
  const family = releaseFamily(config.release);
  const settings: DecodeSettings = { ...config, profile };
  // Per decoder: the value schemas of this source's messages, parsed once (envelope.ts).
  const envelopes = new EnvelopeReader();
  const decodeChange = (value: Buffer | null): DecodedChange => {
    if (value === null) return { decoded: { kind: 'tombstone' }, txId: null, binlog: null };
    try {
      return decodeValue(envelopes.read(value), family, settings);
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('INTERNAL', `decoder failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
  return {
    config: Object.freeze({ ...config }),
    family,
    decode: (value) => decodeChange(value).decoded,
    decodeChange,
  };
}

function decodeValue(read: EnvelopeRead, family: ReleaseFamily, settings: DecodeSettings): DecodedChange {
  if (read.kind === 'tombstone') return { decoded: read, txId: null, binlog: null };
  const { payload, schemas } = read.envelope;
  const op = readOp(payload);
  const src = readSource(payload);
  const facts = sourceFacts(src, op);
  // Spelled out, not spread from settings: a spread literal is built property by property (profiled).
  const ctx: RowContext = {
    name: settings.name,
    release: settings.release,
    profile: settings.profile,
    timeZone: settings.timeZone,
    caseSensitive: settings.caseSensitive,
    connector: facts.connector,
    table: facts.table,
  };
  const binlog: BinlogTransaction | null =
    src.connector === 'postgresql' ? null : { gtid: src.gtid, server_id: src.server_id, snapshot: src.snapshot };
  const change = (decoded: Decoded): DecodedChange => ({ decoded, txId: facts.txId, binlog });
  const source = (rowKey: bigint): EventSource => ({
    name: settings.name,
    release: settings.release,
    connector: facts.connector,
    table: facts.table,
    rowKey,
    position: facts.position,
    snapshot: op === 'r',
    tsMs: facts.tsMs,
  });

  if (op === 't') return change({ kind: 'event', event: { op: 'TRUNCATE', source: source(0n), registration: null } });

  if (op === 'd') {
    const before = image(payload, 'before', op);
    if (before === null) {
      throw new DecodeError('BEFORE_IMAGE_INCOMPLETE', `delete event has no before image: ${fullImageFix(ctx)}`);
    }
    const img = rowImage('before', before, schemas?.before ?? null, ctx);
    checkForeignColumns(img, family, ctx);
    const rowKey = readRowKey(img, family);
    requireFullBeforeImage(img, family, ctx, rowKey);
    checkMarkerColumn(img, family, ctx);
    return change({ kind: 'event', event: { op: 'DELETE', source: source(rowKey), registration: readRegistration(img, family, ctx) } });
  }

  const after = image(payload, 'after', op);
  if (after === null) throw new DecodeError('MISSING_FIELD', `after is null, but an op "${op}" event carries the new row`);
  const img = rowImage('after', after, schemas?.after ?? null, ctx);
  checkForeignColumns(img, family, ctx);
  checkMarkerColumn(img, family, ctx);
  const rowKey = readRowKey(img, family);
  return change({ kind: 'event', event: { op: 'UPSERT', source: source(rowKey), registration: readRegistration(img, family, ctx) } });
}

function image(payload: JsonObject, name: 'before' | 'after', op: string): JsonObject | null {
  const v = field(payload, name);
  if (v === undefined || v === null) return null;
  if (!isJsonObject(v)) throw new DecodeError('WRONG_TYPE', `${name} is ${describeJson(v)}, expected an object (op "${op}")`);
  return v;
}
