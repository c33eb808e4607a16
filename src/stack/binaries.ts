/** Finds the Debian-packaged database binaries; a missing one names the apt package to install. */
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { StackError } from './errors.js';

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` on PATH (plus a few sbin dirs that a non-login PATH may lack), or undefined. */
export function which(name: string, extraDirs: string[] = ['/usr/sbin', '/sbin', '/usr/local/sbin']): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function missing(service: string, what: string, pkg: string, override: string): StackError {
  return new StackError(
    'STACK_BINARY_MISSING',
    `${service}: ${what} not found. Install it with \`apt-get install -y ${pkg}\`, or point ${override} at it`,
    { service },
  );
}

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * PostgreSQL server binaries: `binDir` option, $ULBRIDGE_PG_BIN, the newest
 * /usr/lib/postgresql/<major>/bin (Debian layout), then PATH.
 */
export function findPostgres(binDir?: string): PostgresBinaries {
  const dirs: string[] = [];
  const explicit = binDir ?? process.env.ULBRIDGE_PG_BIN;
  if (explicit) dirs.push(explicit);
  else {
    try {
      const majors = readdirSync('/usr/lib/postgresql')
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => Number(b) - Number(a));
      for (const m of majors) dirs.push(`/usr/lib/postgresql/${m}/bin`);
    } catch {
      /* not Debian-style */
    }
  }
  for (const d of dirs) {
    const initdb = join(d, 'initdb');
    const postgres = join(d, 'postgres');
    if (isExecutable(initdb) && isExecutable(postgres)) return { initdb, postgres };
  }
  if (!explicit) {
    const initdb = which('initdb');
    const postgres = which('postgres');
    if (initdb && postgres) return { initdb, postgres };
  }
  throw missing('postgres', `initdb/postgres${explicit ? ` in ${explicit}` : ''}`, 'postgresql', 'ULBRIDGE_PG_BIN (the bin directory)');
}

export interface MariaDbBinaries {
  mariadbd: string;
  installDb: string;
}

/** MariaDB server binaries: options, $ULBRIDGE_MARIADBD / $ULBRIDGE_MARIADB_INSTALL_DB, then PATH and /usr/sbin. */
export function findMariaDb(opts: { mariadbd?: string; installDb?: string } = {}): MariaDbBinaries {
  const d = opts.mariadbd ?? process.env.ULBRIDGE_MARIADBD;
  const mariadbd = d ? (isExecutable(d) ? d : undefined) : (which('mariadbd') ?? which('mysqld'));
  if (!mariadbd) throw missing('mariadb', d ? `mariadbd at ${d}` : 'mariadbd', 'mariadb-server', 'ULBRIDGE_MARIADBD');
  const i = opts.installDb ?? process.env.ULBRIDGE_MARIADB_INSTALL_DB;
  const installDb = i ? (isExecutable(i) ? i : undefined) : (which('mariadb-install-db') ?? which('mysql_install_db'));
  if (!installDb)
    throw missing('mariadb', i ? `mariadb-install-db at ${i}` : 'mariadb-install-db', 'mariadb-server', 'ULBRIDGE_MARIADB_INSTALL_DB');
  return { mariadbd, installDb };
}
