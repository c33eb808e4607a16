import type { Registration, SourceDb } from '../log/event.js';
import { canonicalAor } from '../opensips/aor.js';
import type { ColumnDef, ReleaseName, ReleaseProfile } from '../opensips/releases.js';
import { DecodeError } from './errors.js';
import {
  column,
  hasColumn,
  INT32_MAX,
  INT32_MIN,
  INT64_MAX,
  INT64_MIN,
  readFloat,
  readInteger,
  readString,
  type RowImage,
} from './fields.js';
import { datetimeToUnix, readDatetime } from './time.js';

/**
 * Row image -> canonical Registration, shared by the release families. What differs between
 * families (key column, how `expires` is stored, kv_store, which columns betray another family's
 * table) is declared by a ReleaseFamily in release21.ts / release22.ts / release24.ts; column
 * lengths and nullability come from the configured release's profile (src/opensips/releases.ts).
 */

export interface DecodeSettings {
  /** Configured source name. */
  name: string;
  release: ReleaseName;
  profile: ReleaseProfile;
  /** IANA zone of the source registrar, for DATETIME columns. */
  timeZone: string;
  /** Registrar case_sensitive: when false the user part is lower-cased. */
  caseSensitive: boolean;
}

export interface RowContext extends DecodeSettings {
  connector: SourceDb;
  /** Source table as Debezium reported it, for messages. */
  table: string;
}

/** A column whose presence shows the table is another family's. */
export interface ForeignColumn {
  column: string;
  /** e.g. "2.2 or later" */
  belongsTo: string;
}

export interface ReleaseFamily {
  /** "2.1", "2.2-2.3", "2.4+" */
  family: string;
  releases: readonly ReleaseName[];
  keyColumn: 'id' | 'contact_id';
  foreignColumns: readonly ForeignColumn[];
  /** A column this family has and older ones lack (kv_store for 2.4+), checked on full images. */
  markerColumn: ForeignColumn | null;
  /** expires as unix seconds, 0 = permanent. */
  readExpires(img: RowImage, ctx: RowContext): bigint;
  readKvStore(img: RowImage, ctx: RowContext): string | null;
}

export interface DecodedRow {
  rowKey: bigint;
  registration: Registration;
}

export function rowImage(image: 'before' | 'after', row: RowImage['row'], schema: RowImage['schema'], ctx: RowContext): RowImage {
  return { image, row, schema, tableLabel: `a ${ctx.release} location table` };
}

/** TABLE_MISMATCH when the row has a column another family's table has instead. */
export function checkForeignColumns(img: RowImage, family: ReleaseFamily, ctx: RowContext): void {
  for (const f of family.foreignColumns) {
    if (hasColumn(img, f.column)) {
      throw new DecodeError(
        'TABLE_MISMATCH',
        `${img.image} has column ${f.column}, which ${img.tableLabel} does not have: ${ctx.table} looks like a ${f.belongsTo} table; check the release configured for source "${ctx.name}"`,
      );
    }
  }
}

export function checkMarkerColumn(img: RowImage, family: ReleaseFamily, ctx: RowContext): void {
  const m = family.markerColumn;
  if (m && !hasColumn(img, m.column)) {
    throw new DecodeError(
      'TABLE_MISMATCH',
      `${img.image} has no ${m.column} column, which ${img.tableLabel} has: ${ctx.table} looks like a ${m.belongsTo} table; check the release configured for source "${ctx.name}"`,
    );
  }
}

export function readRowKey(img: RowImage, family: ReleaseFamily): bigint {
  return readInteger(img, family.keyColumn, { nullable: false, min: INT64_MIN, max: INT64_MAX, range: 'int64' })!;
}

const AOR_COLUMNS = ['username', 'contact', 'callid'] as const;

/**
 * A delete's before image must carry the binding, not only its key: PostgreSQL sends old values
 * of non-key columns only with REPLICA IDENTITY FULL, MySQL only with binlog_row_image=FULL. An
 * image with those columns absent or null, or all of them empty (defaults filled in), is refused.
 */
export function requireFullBeforeImage(img: RowImage, family: ReleaseFamily, ctx: RowContext, rowKey: bigint): void {
  const absent = AOR_COLUMNS.find((c) => !hasColumn(img, c) || img.row[c] === null);
  const allEmpty = AOR_COLUMNS.every((c) => img.row[c] === '');
  if (absent === undefined && !allEmpty) return;
  const what =
    absent === undefined ? 'username, contact and callid are all empty' : `${absent} is ${hasColumn(img, absent) ? 'null' : 'missing'}`;
  throw new DecodeError(
    'BEFORE_IMAGE_INCOMPLETE',
    `delete of ${family.keyColumn} ${rowKey} has an incomplete before image (${what}): ${fullImageFix(ctx)}`,
  );
}

export function fullImageFix(ctx: Pick<RowContext, 'connector' | 'table'>): string {
  return ctx.connector === 'POSTGRESQL'
    ? `run ALTER TABLE ${ctx.table} REPLICA IDENTITY FULL so deletes carry the whole row`
    : 'set binlog_row_image=FULL on the MySQL/MariaDB server so deletes carry the whole row';
}

function def(profile: ReleaseProfile, name: string): ColumnDef {
  const d = profile.columns.find((c) => c.name === name);
  if (!d) throw new DecodeError('INTERNAL', `release ${profile.name} profile has no ${name} column`);
  return d;
}

interface StringColumn {
  nullable: boolean;
  maxLength: number | null;
  sqlType: string;
}

/** The string columns' read options of each profile, built once (not per column per event). */
const stringColumns = new WeakMap<ReleaseProfile, Map<string, StringColumn>>();

function stringColumn(profile: ReleaseProfile, name: string): StringColumn {
  let byName = stringColumns.get(profile);
  if (!byName) stringColumns.set(profile, (byName = new Map()));
  let c = byName.get(name);
  if (!c) {
    const d = def(profile, name);
    const t = d.type;
    c = {
      nullable: d.nullable,
      maxLength: t.kind === 'varchar' ? t.length : null,
      sqlType: t.kind === 'varchar' ? `VARCHAR(${t.length})` : 'TEXT',
    };
    byName.set(name, c);
  }
  return c;
}

function str(img: RowImage, ctx: RowContext, name: string): string | null {
  return readString(img, name, stringColumn(ctx.profile, name));
}

function int32(img: RowImage, ctx: RowContext, name: string): number | null {
  const d = def(ctx.profile, name);
  const n = readInteger(img, name, { nullable: d.nullable, min: INT32_MIN, max: INT32_MAX, range: 'int32' });
  return n === null ? null : Number(n);
}

/** Reads every column of a full image (after, or a delete's before) into a Registration. */
export function readRegistration(img: RowImage, family: ReleaseFamily, ctx: RowContext): Registration {
  const username = str(img, ctx, 'username')!;
  const domain = str(img, ctx, 'domain');
  const aor = canonicalAor(username, domain === '' ? null : domain, { caseSensitive: ctx.caseSensitive });
  return {
    username: aor.username,
    domain: aor.domain,
    contact: str(img, ctx, 'contact')!,
    received: str(img, ctx, 'received'),
    path: str(img, ctx, 'path'),
    expires: family.readExpires(img, ctx),
    q: readFloat(img, 'q', { nullable: false })!,
    callid: str(img, ctx, 'callid')!,
    cseq: int32(img, ctx, 'cseq')!,
    lastModified: datetimeToUnix(readDatetime(img, 'last_modified', ctx.connector), ctx.timeZone),
    flags: int32(img, ctx, 'flags')!,
    cflags: str(img, ctx, 'cflags'),
    userAgent: str(img, ctx, 'user_agent')!,
    socket: str(img, ctx, 'socket'),
    methods: int32(img, ctx, 'methods'),
    sipInstance: str(img, ctx, 'sip_instance'),
    kvStore: family.readKvStore(img, ctx),
    attr: str(img, ctx, 'attr'),
  };
}

/** `expires` stored as DATETIME in the registrar's local time (2.1-2.3). */
export function readDatetimeExpires(img: RowImage, ctx: RowContext, newerFamily: string): bigint {
  const c = column(img, 'expires', false)!;
  if (c.schema && c.schema.name === null && ['int32', 'int64'].includes(c.schema.type)) {
    throw new DecodeError(
      'TABLE_MISMATCH',
      `${c.path} is a plain ${c.schema.type}, but ${img.tableLabel} stores expires as DATETIME: ${ctx.table} looks like a ${newerFamily} table; check the release configured for source "${ctx.name}"`,
    );
  }
  return datetimeToUnix(readDatetime(img, 'expires', ctx.connector), ctx.timeZone);
}

const UINT32_MAX = 2n ** 32n - 1n;

/** `expires` stored as INTEGER unix seconds (2.4+): PostgreSQL INTEGER or MySQL INT UNSIGNED. */
export function readUnixExpires(img: RowImage, ctx: RowContext, olderFamily: string): bigint {
  const c = column(img, 'expires', false)!;
  if (c.schema && c.schema.name !== null && c.schema.name.includes('Timestamp')) {
    throw new DecodeError(
      'TABLE_MISMATCH',
      `${c.path} is a timestamp (${c.schema.name}), but ${img.tableLabel} stores expires as INTEGER unix time: ${ctx.table} looks like a ${olderFamily} table; check the release configured for source "${ctx.name}"`,
    );
  }
  return readInteger(img, 'expires', { nullable: false, min: INT32_MIN, max: UINT32_MAX, range: 'INTEGER / INT UNSIGNED' })!;
}
