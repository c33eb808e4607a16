import { parseDbUrl, type DbTarget } from '../db/url.js';
import { createMysqlTargetStore } from './mysqlStore.js';
import { createPostgresTargetStore } from './pgStore.js';
import type { Target } from './target.js';
import { targetError, type TargetStore, type TargetStoreOptions } from './targetStore.js';

/** postgres:// and postgresql:// URLs get the PostgreSQL store; mysql:// and mariadb:// the MySQL one. */
export function createTargetStore(target: Target, opts: TargetStoreOptions): TargetStore {
  const db = targetDb(target);
  return db.dialect === 'postgres' ? createPostgresTargetStore(target, db, opts) : createMysqlTargetStore(target, db, opts);
}

function targetDb(target: Target): DbTarget {
  try {
    return parseDbUrl(target.db);
  } catch (e) {
    throw targetError(target, e);
  }
}
