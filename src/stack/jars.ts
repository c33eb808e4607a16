/**
 * The Kafka, Connect and Debezium jars, fetched once with Maven from the pinned pom in docker/jars/
 * and cached under ~/.cache/ulbridge/jars/<hash of the poms>/ so later starts are instant.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from './binaries.js';
import { StackError } from './errors.js';
import { tailSuffix } from './process.js';

export interface Jars {
  /** Cache directory for this pom hash. */
  dir: string;
  /** Broker classpath (`<dir>/kafka/*`). */
  kafkaClasspath: string;
  /** Connect worker classpath (`<dir>/connect/*`). */
  connectClasspath: string;
  /** Connect plugin.path: one subdirectory per plugin. */
  pluginPath: string;
}

export interface JarsOptions {
  /** Directory holding pom.xml and the module poms (default: <repo>/docker/jars). */
  pomDir?: string;
  /** Cache root (default: $ULBRIDGE_CACHE_DIR/jars or ~/.cache/ulbridge/jars). */
  cacheDir?: string;
  /** mvn executable (default: $ULBRIDGE_MVN or mvn on PATH). */
  mvn?: string;
  log?: (line: string) => void;
}

/** Walks up from this file to the directory that has docker/jars/pom.xml (works from src/ and dist/). */
export function defaultPomDir(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(d, 'docker', 'jars');
    if (existsSync(join(candidate, 'pom.xml'))) return candidate;
    const up = dirname(d);
    if (up === d) throw new StackError('STACK_MAVEN_FAILED', 'cannot find docker/jars/pom.xml above the ulbridge sources');
    d = up;
  }
}

export function defaultCacheRoot(): string {
  const base = process.env.ULBRIDGE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ulbridge');
  return join(base, 'jars');
}

function listPoms(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== 'target') out.push(...listPoms(join(dir, e.name), root));
    else if (e.isFile() && e.name === 'pom.xml') out.push(relative(root, join(dir, e.name)));
  }
  return out.sort();
}

/** Content hash of every pom under `pomDir`: a pom change means a new cache directory. */
export function pomHash(pomDir: string): string {
  const h = createHash('sha256');
  for (const p of listPoms(pomDir))
    h.update(p)
      .update('\0')
      .update(readFileSync(join(pomDir, p)))
      .update('\0');
  return h.digest('hex').slice(0, 16);
}

function layout(dir: string): Jars {
  return {
    dir,
    kafkaClasspath: join(dir, 'kafka', '*'),
    connectClasspath: join(dir, 'connect', '*'),
    pluginPath: join(dir, 'plugins'),
  };
}

const COMPLETE = '.complete';

export async function ensureJars(opts: JarsOptions = {}): Promise<Jars> {
  const pomDir = opts.pomDir ?? defaultPomDir();
  const root = opts.cacheDir ?? defaultCacheRoot();
  const dir = join(root, pomHash(pomDir));
  if (existsSync(join(dir, COMPLETE))) return layout(dir);

  const mvn = opts.mvn ?? process.env.ULBRIDGE_MVN ?? which('mvn');
  if (!mvn) {
    throw new StackError(
      'STACK_MAVEN_FAILED',
      'mvn not found: install Maven (`apt-get install -y maven`) or set ULBRIDGE_MVN; it fetches the Kafka/Connect/Debezium jars once',
    );
  }
  (opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(
    `fetching Kafka/Connect/Debezium jars with mvn (first run only) into ${dir} ...`,
  );
  mkdirSync(root, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const logFile = join(root, `mvn-${process.pid}.log`);
  const argv = [mvn, '-B', '-q', '-f', join(pomDir, 'pom.xml'), 'dependency:copy-dependencies', `-Djars.out=${tmp}`];
  const ok = await new Promise<boolean>((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      writeFileSync(logFile, `${argv.join(' ')}\n${stdout}${stderr}${err ? `\n${err.message}\n` : ''}`);
      resolve(!err);
    });
  });
  if (!ok || !existsSync(join(tmp, 'kafka')) || !existsSync(join(tmp, 'connect')) || !existsSync(join(tmp, 'plugins'))) {
    rmSync(tmp, { recursive: true, force: true });
    throw new StackError(
      'STACK_MAVEN_FAILED',
      `\`${argv.join(' ')}\` failed; Maven needs to reach Maven Central (or a mirror in ~/.m2/settings.xml). Log: ${logFile}${tailSuffix(logFile, 15)}`,
      { command: argv, logFile },
    );
  }
  writeFileSync(join(tmp, COMPLETE), `${new Date().toISOString()}\n`);
  try {
    if (existsSync(dir) && !existsSync(join(dir, COMPLETE))) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch {
    // Another process finished first: use its copy.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, COMPLETE))) throw new StackError('STACK_MAVEN_FAILED', `cannot move jars into ${dir}`);
  }
  rmSync(logFile, { force: true });
  return layout(dir);
}
