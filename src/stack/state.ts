/** The CLI's state file: where a detached stack (`ulbridge stack up`) can be found again. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StackError } from './errors.js';
import type { StackState } from './types.js';

/** $ULBRIDGE_STACK_DIR, else ~/.cache/ulbridge/stack (XDG_CACHE_HOME honoured). */
export function stateDir(): string {
  return process.env.ULBRIDGE_STACK_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ulbridge', 'stack');
}

export function stateFile(dir = stateDir()): string {
  return join(dir, 'state.json');
}

export function readState(file = stateFile()): StackState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as StackState;
    if (s.version !== 1 || !Array.isArray(s.processes)) throw new Error('unknown format');
    return s;
  } catch (e) {
    throw new StackError(
      'STACK_NOT_RUNNING',
      `cannot read the stack state file ${file} (${(e as Error).message}); delete it if no stack is running`,
      {},
      { cause: e },
    );
  }
}

export function writeState(state: StackState, file = stateFile()): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

export function removeState(file = stateFile()): void {
  rmSync(file, { force: true });
}
