import { UlbridgeError } from '../ops/errors.js';

/**
 * Database URLs as operators give them with `--db`:
 *   postgres://user:pass@host:5432/db      postgresql://...   -> PostgreSQL (driver `pg`)
 *   mysql://user:pass@host:3306/db         mariadb://...      -> MySQL / MariaDB (driver `mysql2`)
 */

export type DialectName = 'postgres' | 'mysql';

export interface DbTarget {
  dialect: DialectName;
  /** The URL handed to the driver (mariadb:// rewritten to mysql://). Holds the password: never print it. */
  url: string;
  /** The same URL with any password replaced by `***`, safe for messages and reports. */
  redacted: string;
  host: string;
  port: number;
  database: string;
  user: string;
}

const SCHEMES: Record<string, { dialect: DialectName; port: number }> = {
  'postgres:': { dialect: 'postgres', port: 5432 },
  'postgresql:': { dialect: 'postgres', port: 5432 },
  'mysql:': { dialect: 'mysql', port: 3306 },
  'mariadb:': { dialect: 'mysql', port: 3306 },
};

const HINT = 'give postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE';

/** Hides the password of any URL-looking string (also used on driver messages). */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:/?#@\s]*:)[^@/\s]*@/g, '$1***@');
}

export function parseDbUrl(raw: string): DbTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UlbridgeError('BAD_DB_URL', `--db "${redactUrl(raw)}" is not a database URL: ${HINT}`);
  }
  const scheme = SCHEMES[u.protocol];
  if (!scheme) {
    throw new UlbridgeError('BAD_DB_URL', `--db scheme "${u.protocol}" is not supported: ${HINT}`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!u.hostname) throw new UlbridgeError('BAD_DB_URL', `--db "${redactUrl(raw)}" names no host: ${HINT}`);
  if (!database || database.includes('/')) {
    throw new UlbridgeError('BAD_DB_URL', `--db "${redactUrl(raw)}" names no database: ${HINT}`);
  }
  const url = u.protocol === 'mariadb:' ? `mysql:${raw.slice('mariadb:'.length)}` : raw;
  return {
    dialect: scheme.dialect,
    url,
    redacted: redactUrl(raw),
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : scheme.port,
    database,
    user: decodeURIComponent(u.username),
  };
}
