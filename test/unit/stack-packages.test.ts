import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureSystemPackages, needs } from '../../src/stack/systemPackages.js';

test('the Debian packages each service needs, unless a binary was pointed at explicitly', () => {
  const saved = { ...process.env };
  try {
    for (const k of ['ULBRIDGE_PG_BIN', 'ULBRIDGE_MARIADBD', 'ULBRIDGE_JAVA', 'JAVA_HOME', 'ULBRIDGE_MVN'])
      Reflect.deleteProperty(process.env, k);
    assert.deepEqual(
      needs(['postgres', 'mariadb', 'kafka', 'connect'], {}).map((n) => n.pkg),
      ['postgresql', 'mariadb-server', 'openjdk-17-jre-headless', 'maven'],
    );
    assert.deepEqual(
      needs(['postgres'], {}).map((n) => n.pkg),
      ['postgresql'],
    );
    assert.deepEqual(
      needs(['postgres', 'kafka'], { pgBinDir: '/opt/pg/bin', java: '/opt/java', mvn: '/opt/mvn' }).map((n) => n.pkg),
      [],
    );
    process.env.JAVA_HOME = '/usr/lib/jvm/x';
    assert.deepEqual(
      needs(['kafka'], {}).map((n) => n.pkg),
      ['maven'],
    );
  } finally {
    process.env = saved;
  }
});

test('nothing is installed when every binary is present', async () => {
  const lines: string[] = [];
  await ensureSystemPackages(['postgres', 'mariadb', 'kafka', 'connect'], (l) => lines.push(l));
  assert.deepEqual(lines, []);
});
