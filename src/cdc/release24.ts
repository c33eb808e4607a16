import { readString } from './fields.js';
import type { ReleaseFamily } from './row.js';
import { readUnixExpires } from './row.js';

/**
 * OpenSIPS 2.4, 3.x and 4.0 (table version 1013): primary key `contact_id` (BIGINT), `expires`
 * INTEGER unix seconds (0 = permanent; MySQL INT UNSIGNED arrives as int64), `kv_store` TEXT
 * (a JSON object, or NULL). `last_modified` is still DATETIME in local time. An `id` column means
 * a 2.1 table; a full row without `kv_store` a 2.3-or-older one.
 */
export const release24: ReleaseFamily = {
  family: '2.4+',
  releases: ['2.4', '3.x', '4.0'],
  keyColumn: 'contact_id',
  foreignColumns: [{ column: 'id', belongsTo: '2.1' }],
  markerColumn: { column: 'kv_store', belongsTo: '2.3 or older' },
  readExpires: (img, ctx) => readUnixExpires(img, ctx, '2.3 or older'),
  readKvStore: (img) => readString(img, 'kv_store', { nullable: true, maxLength: null, sqlType: 'TEXT' }),
};
