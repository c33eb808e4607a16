import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

// The CLI's error line (a synchronous stderr write) must come after every log line written before
// it. With libuv's thread pool busy, an asynchronous log destination would write the log line late.
test('a log line written before the error line reaches stderr before it, even with the thread pool busy', () => {
  const logger = new URL('../../src/ops/logger.ts', import.meta.url).href;
  const script = `
    import { pbkdf2 } from 'node:crypto';
    import { createLogger } from ${JSON.stringify(logger)};
    for (let i = 0; i < 8; i++) pbkdf2('x', 'y', 300000, 64, 'sha512', () => undefined);
    createLogger('info').info('projection stopped');
    process.stderr.write('ulbridge: SOME_CODE: the error line\\n');`;
  const { stderr, status } = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(status, 0, stderr);
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, stderr);
  assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'projection stopped');
  assert.equal(lines[1], 'ulbridge: SOME_CODE: the error line');
});
