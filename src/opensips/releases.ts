import { UlbridgeError } from '../ops/errors.js';
import type { ClabelPacking } from './contactId.js';

/**
 * Release profiles: what a `location` table looks like and what preload checks, per OpenSIPS
 * release line (shared/opensips-usrloc.md §0, §6, §7). A change of OpenSIPS rules touches this
 * file and nothing outside src/opensips/.
 */

export type ReleaseName = '2.1' | '2.2' | '2.3' | '2.4' | '3.x' | '4.0';
export const RELEASE_NAMES: readonly ReleaseName[] = ['2.1', '2.2', '2.3', '2.4', '3.x', '4.0'];

/** Table generations: 1009 = 2.1, 1011 = 2.2-2.3, 1013 = 2.4-4.0. */
export type TableVersion = 1009 | 1011 | 1013;

export type ColumnType =
  | { kind: 'serial-key'; bits: 32 | 64 } // INT/BIGINT auto-increment primary key
  | { kind: 'varchar'; length: number }
  | { kind: 'text' }
  | { kind: 'int' }
  | { kind: 'real' }
  | { kind: 'datetime' };

export interface ColumnDef {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** SQL default, already quoted for both dialects; undefined = none. */
  default?: string;
}

export interface ReleaseProfile {
  name: ReleaseName;
  /** Human description of the releases covered. */
  covers: string;
  tableVersion: TableVersion;
  /** Primary key column: `id` (2.1) or `contact_id` (2.2+). */
  keyColumn: 'id' | 'contact_id';
  /** How `expires` is stored: DATETIME in the registrar's local time, or INTEGER unix seconds. */
  expires: 'datetime' | 'unix';
  hasKvStore: boolean;
  /** null for 2.1, which has no contact_id. */
  clabelPacking: ClabelPacking | null;
  /** Whether start-up preload compares the id's aorhash with core_hash(AOR) & 0xFFFF. */
  checksAorhash: boolean;
  columns: readonly ColumnDef[];
}

const vc = (name: string, length: number, nullable: boolean, dflt?: string): ColumnDef => ({
  name,
  type: { kind: 'varchar', length },
  nullable,
  ...(dflt === undefined ? {} : { default: dflt }),
});
const int = (name: string, nullable: boolean, dflt?: string): ColumnDef => ({
  name,
  type: { kind: 'int' },
  nullable,
  ...(dflt === undefined ? {} : { default: dflt }),
});

interface ShapeOptions {
  key: 'id' | 'contact_id';
  domainNullable: boolean;
  contact: 'varchar' | 'text';
  receivedLength: number;
  expires: 'datetime' | 'unix';
  kvStore: boolean;
}

function columnsFor(o: ShapeOptions): ColumnDef[] {
  const cols: ColumnDef[] = [
    { name: o.key, type: { kind: 'serial-key', bits: o.key === 'id' ? 32 : 64 }, nullable: false },
    vc('username', 64, false, "''"),
    o.domainNullable ? vc('domain', 64, true, 'NULL') : vc('domain', 64, false, "''"),
    o.contact === 'text' ? { name: 'contact', type: { kind: 'text' }, nullable: false } : vc('contact', 255, false, "''"),
    vc('received', o.receivedLength, true, 'NULL'),
    vc('path', 255, true, 'NULL'),
    o.expires === 'unix'
      ? int('expires', false)
      : { name: 'expires', type: { kind: 'datetime' }, nullable: false, default: "'2020-05-28 21:32:15'" },
    { name: 'q', type: { kind: 'real' }, nullable: false, default: '1.0' },
    vc('callid', 255, false, "'Default-Call-ID'"),
    int('cseq', false, '13'),
    { name: 'last_modified', type: { kind: 'datetime' }, nullable: false, default: "'1900-01-01 00:00:01'" },
    int('flags', false, '0'),
    vc('cflags', 255, true, 'NULL'),
    vc('user_agent', 255, false, "''"),
    vc('socket', 64, true, 'NULL'),
    int('methods', true, 'NULL'),
    vc('sip_instance', 255, true, 'NULL'),
  ];
  if (o.kvStore) cols.push({ name: 'kv_store', type: { kind: 'text' }, nullable: true, default: 'NULL' });
  cols.push(vc('attr', 255, true, 'NULL'));
  return cols;
}

const PROFILES: Record<ReleaseName, ReleaseProfile> = {
  '2.1': {
    name: '2.1',
    covers: 'OpenSIPS 2.1.x',
    tableVersion: 1009,
    keyColumn: 'id',
    expires: 'datetime',
    hasKvStore: false,
    clabelPacking: null,
    checksAorhash: false,
    columns: columnsFor({ key: 'id', domainNullable: false, contact: 'varchar', receivedLength: 128, expires: 'datetime', kvStore: false }),
  },
  '2.2': {
    name: '2.2',
    covers: 'OpenSIPS 2.2.x (schema of 2.2.8)',
    tableVersion: 1011,
    keyColumn: 'contact_id',
    expires: 'datetime',
    hasKvStore: false,
    clabelPacking: 'unmasked',
    checksAorhash: true,
    columns: columnsFor({
      key: 'contact_id',
      domainNullable: true,
      contact: 'varchar',
      receivedLength: 255,
      expires: 'datetime',
      kvStore: false,
    }),
  },
  '2.3': {
    name: '2.3',
    covers: 'OpenSIPS 2.3.x (schema of 2.3.6)',
    tableVersion: 1011,
    keyColumn: 'contact_id',
    expires: 'datetime',
    hasKvStore: false,
    clabelPacking: 'unmasked',
    checksAorhash: true,
    columns: columnsFor({
      key: 'contact_id',
      domainNullable: true,
      contact: 'varchar',
      receivedLength: 255,
      expires: 'datetime',
      kvStore: false,
    }),
  },
  '2.4': {
    name: '2.4',
    covers: 'OpenSIPS 2.4.x (schema of 2.4.3+)',
    tableVersion: 1013,
    keyColumn: 'contact_id',
    expires: 'unix',
    hasKvStore: true,
    clabelPacking: 'unmasked',
    checksAorhash: true,
    columns: columnsFor({
      key: 'contact_id',
      domainNullable: true,
      contact: 'varchar',
      receivedLength: 255,
      expires: 'unix',
      kvStore: true,
    }),
  },
  '3.x': {
    name: '3.x',
    covers: 'OpenSIPS 3.0-3.6 (schema of 3.1.4+/3.2.1+: contact TEXT)',
    tableVersion: 1013,
    keyColumn: 'contact_id',
    expires: 'unix',
    hasKvStore: true,
    clabelPacking: 'masked',
    checksAorhash: true,
    columns: columnsFor({ key: 'contact_id', domainNullable: true, contact: 'text', receivedLength: 255, expires: 'unix', kvStore: true }),
  },
  '4.0': {
    name: '4.0',
    covers: 'OpenSIPS 4.0.x',
    tableVersion: 1013,
    keyColumn: 'contact_id',
    expires: 'unix',
    hasKvStore: true,
    clabelPacking: 'masked',
    checksAorhash: true,
    columns: columnsFor({ key: 'contact_id', domainNullable: true, contact: 'text', receivedLength: 255, expires: 'unix', kvStore: true }),
  },
};

export function releaseProfile(name: string): ReleaseProfile {
  const p = (PROFILES as Record<string, ReleaseProfile | undefined>)[name];
  if (!p) {
    throw new UlbridgeError('UNKNOWN_RELEASE', `unknown release "${name}": valid releases are ${RELEASE_NAMES.join(', ')}`);
  }
  return p;
}

/** Releases whose tables carry a contact_id (every target of the bridge). */
export function contactIdRelease(name: string): ReleaseProfile {
  const p = releaseProfile(name);
  if (p.keyColumn !== 'contact_id') {
    const valid = RELEASE_NAMES.filter((r) => PROFILES[r].keyColumn === 'contact_id').join(', ');
    throw new UlbridgeError('UNKNOWN_RELEASE', `release "${name}" has no contact_id column: this needs one of ${valid}`);
  }
  return p;
}
