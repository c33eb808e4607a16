/**
 * UL_BIN_VERSION 3 (UL_BIN_V3): sent by OpenSIPS 3.4.x and 3.5.x (modules/usrloc/ul_cluster.c,
 * identical in both). Against V5: branch flags are an int bitmask and URECORD_INSERT has no
 * key-value store. The field order is in ./layout.ts.
 */
import { usrlocCodec } from './layout.js';

export const UL_BIN_V3 = 3;

export const usrlocV3 = usrlocCodec({ version: UL_BIN_V3, releases: ['3.4', '3.5'], recordKvStore: false, cflags: 'bitmask' });
