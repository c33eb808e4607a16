import type { ReleaseFamily } from './row.js';
import { readDatetimeExpires } from './row.js';

/**
 * OpenSIPS 2.2 and 2.3 (table version 1011): primary key `contact_id` (BIGINT), `domain`
 * nullable, `expires` still DATETIME in the registrar's local time, no `kv_store`. An `id` column
 * means a 2.1 table, `kv_store` a 2.4+ one.
 */
export const release22: ReleaseFamily = {
  family: '2.2-2.3',
  releases: ['2.2', '2.3'],
  keyColumn: 'contact_id',
  foreignColumns: [
    { column: 'id', belongsTo: '2.1' },
    { column: 'kv_store', belongsTo: '2.4 or later' },
  ],
  markerColumn: null,
  readExpires: (img, ctx) => readDatetimeExpires(img, ctx, '2.4 or later'),
  readKvStore: () => null,
};
