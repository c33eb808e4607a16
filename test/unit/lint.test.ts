/**
 * The codebase is clean under ESLint (eslint.config.js: typescript-eslint strict plus the promise
 * rules) and formatted by Prettier (.prettierrc.json). Part of `npm test`, so `.ci/run` enforces
 * both; `npm run format` fixes what can be fixed mechanically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

async function tool(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(`${ROOT}node_modules/.bin/${bin}`, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}${String(e)}` };
  }
}

test('ESLint reports no problems (npm run lint)', async () => {
  const r = await tool('eslint', ['--max-warnings', '0', '.']);
  assert.equal(r.code, 0, `eslint found problems; fix them or run npm run format:\n${r.output}`);
});

test('every source file is formatted by Prettier (npm run format)', async () => {
  const r = await tool('prettier', ['--check', '.']);
  assert.equal(r.code, 0, `prettier --check failed; run npm run format:\n${r.output}`);
});
