import { execFile } from 'node:child_process';
import { findMariaDb, findPostgres, which } from './binaries.js';
import { StackError } from './errors.js';
import type { ServiceName } from './types.js';

/**
 * First use on a fresh Debian machine: Debian packages the requested services need and that are
 * missing are installed with apt-get, with a message saying so, when we are root and nothing was
 * pointed at explicitly. Otherwise the finders' errors name the package to install.
 */

interface Need {
  pkg: string;
  present: () => boolean;
}

const present = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

export function needs(services: ServiceName[], opts: { pgBinDir?: string; java?: string; mvn?: string; mariadbd?: string }): Need[] {
  const out: Need[] = [];
  if (services.includes('postgres') && !opts.pgBinDir && !process.env.ULBRIDGE_PG_BIN)
    out.push({ pkg: 'postgresql', present: () => present(() => findPostgres()) });
  if (services.includes('mariadb') && !opts.mariadbd && !process.env.ULBRIDGE_MARIADBD)
    out.push({ pkg: 'mariadb-server', present: () => present(() => findMariaDb()) });
  if ((services.includes('kafka') || services.includes('connect')) && !opts.java && !process.env.ULBRIDGE_JAVA && !process.env.JAVA_HOME) {
    out.push({ pkg: 'openjdk-17-jre-headless', present: () => which('java') !== undefined });
  }
  if ((services.includes('kafka') || services.includes('connect')) && !opts.mvn && !process.env.ULBRIDGE_MVN)
    out.push({ pkg: 'maven', present: () => which('mvn') !== undefined });
  return out;
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (err, _out, stderr) => {
        if (err)
          reject(
            new StackError(
              'STACK_BINARY_MISSING',
              `\`${argv.join(' ')}\` failed: ${stderr.trim().split('\n').slice(-3).join(' / ') || err.message}`,
              { command: argv },
            ),
          );
        else resolve();
      },
    );
  });
}

export async function ensureSystemPackages(
  services: ServiceName[],
  log: (line: string) => void,
  opts: { pgBinDir?: string; java?: string; mvn?: string; mariadbd?: string } = {},
): Promise<void> {
  const missing = needs(services, opts)
    .filter((n) => !n.present())
    .map((n) => n.pkg);
  if (missing.length === 0) return;
  const apt = which('apt-get');
  if (process.getuid?.() !== 0 || !apt) return; // the finders' errors say what to install
  log(`installing missing Debian packages (first use): ${missing.join(' ')} ...`);
  await run([apt, 'update', '-q']);
  await run([apt, 'install', '-y', '-q', '--no-install-recommends', ...missing]);
  log(`installed ${missing.join(' ')}`);
}
