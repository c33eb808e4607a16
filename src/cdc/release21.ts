import type { ReleaseFamily } from './row.js';
import { readDatetimeExpires } from './row.js';

/**
 * OpenSIPS 2.1 (table version 1009): primary key `id` (INT auto-increment; MySQL INT UNSIGNED
 * arrives as int64), `domain` NOT NULL (an empty domain means none), `expires` DATETIME in the
 * registrar's local time, no `kv_store`. A `contact_id` column means a 2.2+ table, `kv_store` a
 * 2.4+ one.
 */
export const release21: ReleaseFamily = {
  family: '2.1',
  releases: ['2.1'],
  keyColumn: 'id',
  foreignColumns: [
    { column: 'contact_id', belongsTo: '2.2 or later' },
    { column: 'kv_store', belongsTo: '2.4 or later' },
  ],
  markerColumn: null,
  readExpires: (img, ctx) => readDatetimeExpires(img, ctx, '2.4 or later'),
  readKvStore: () => null,
};
