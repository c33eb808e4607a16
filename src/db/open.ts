import type { DbConnection } from './connection.js';
import { openMysql } from './mysql.js';
import { openPostgres } from './pg.js';
import { parseDbUrl, type DbTarget } from './url.js';

/** Opens a session for a `--db` URL (or an already parsed target). */
export async function openDb(urlOrTarget: string | DbTarget): Promise<DbConnection> {
  const target = typeof urlOrTarget === 'string' ? parseDbUrl(urlOrTarget) : urlOrTarget;
  return target.dialect === 'postgres' ? openPostgres(target) : openMysql(target);
}
