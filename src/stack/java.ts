import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { StackError } from './errors.js';

export interface JavaRuntime {
  path: string;
  major: number;
}

/** Which java to run: option, $ULBRIDGE_JAVA, $JAVA_HOME/bin/java, then `java` on PATH. */
export function javaCandidate(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.ULBRIDGE_JAVA) return process.env.ULBRIDGE_JAVA;
  if (process.env.JAVA_HOME) return join(process.env.JAVA_HOME, 'bin', 'java');
  return 'java';
}

export function parseJavaMajor(versionOutput: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!m) return undefined;
  const first = Number(m[1]);
  return first === 1 ? Number(m[2]) : first;
}

/** Kafka 4.x brokers and Connect need Java 17+; anything else is STACK_JAVA_MISSING. */
export async function findJava(explicit?: string): Promise<JavaRuntime> {
  const path = javaCandidate(explicit);
  const hint = 'install a Java 17+ runtime (`apt-get install -y openjdk-17-jre-headless`) or point JAVA_HOME / ULBRIDGE_JAVA at one';
  const out = await promisify(execFile)(path, ['-version'], { timeout: 30_000 })
    .then(({ stdout, stderr }) => `${stderr}${stdout}`)
    .catch((e: NodeJS.ErrnoException) => {
      throw new StackError(
        'STACK_JAVA_MISSING',
        `cannot run \`${path} -version\` (${e.code ?? e.message}); ${hint}`,
        { command: [path, '-version'] },
        { cause: e },
      );
    });
  const major = parseJavaMajor(out);
  if (major === undefined || major < 17) {
    throw new StackError('STACK_JAVA_MISSING', `${path} is Java ${major ?? '(unknown version)'}, Kafka 4 needs 17 or newer; ${hint}`, {
      command: [path, '-version'],
    });
  }
  return { path, major };
}

/** JVM flags shared by the broker and the Connect worker. */
export function jvmFlags(heap: string): string[] {
  return [`-Xmx${heap}`, '-Xms128m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true'];
}
