/**
 * UL_BIN_VERSION 5 (UL_BIN_V5): sent by OpenSIPS 3.6.x and 4.0.x (modules/usrloc/ul_cluster.c).
 * Against V3: branch flags travel as their names (V4), and URECORD_INSERT carries the record's
 * key-value store (V5). The field order is in ./layout.ts.
 */
import { usrlocCodec } from './layout.js';

export const UL_BIN_V5 = 5;

export const usrlocV5 = usrlocCodec({ version: UL_BIN_V5, releases: ['3.6', '4.0'], recordKvStore: true, cflags: 'names' });
