import { StackError, formatCommand } from './errors.js';
import { describeExit, sleep, tailSuffix, type Spawned } from './process.js';

export interface ReadyOptions {
  /** Resolves true once the service answers; errors count as "not yet". */
  probe: () => Promise<boolean>;
  /** What the probe checks, for the timeout message. */
  what: string;
  timeoutMs: number;
  /** Stop waiting (another service failed). */
  signal?: AbortSignal;
  intervalMs?: number;
}

/**
 * Polls `probe` until it succeeds. Fails with STACK_SERVICE_EXITED if the process dies first, or
 * STACK_START_FAILED on timeout; both name the service, its command line and its log file.
 */
export async function waitUntilReady(p: Spawned, opts: ReadyOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 250;
  for (;;) {
    if (opts.signal?.aborted) throw new StackError('STACK_START_FAILED', `${p.name}: start-up abandoned`, { service: p.name });
    if (p.exit) throw exitedError(p);
    const ok = await opts.probe().catch(() => false);
    if (ok) return;
    if (p.exit) throw exitedError(p);
    if (Date.now() >= deadline) {
      throw new StackError(
        'STACK_START_FAILED',
        `${p.name} did not become ready within ${Math.round(opts.timeoutMs / 1000)} s (${opts.what}).\n` +
          `command: ${formatCommand(p.argv)}\nlog: ${p.logFile}${tailSuffix(p.logFile)}`,
        { service: p.name, command: p.argv, logFile: p.logFile },
      );
    }
    await sleep(interval);
  }
}

export function exitedError(p: Spawned): StackError {
  return new StackError(
    'STACK_SERVICE_EXITED',
    `${p.name} exited during start-up (${p.exit ? describeExit(p.exit) : 'unknown status'}).\n` +
      `command: ${formatCommand(p.argv)}\nlog: ${p.logFile}${tailSuffix(p.logFile)}`,
    { service: p.name, command: p.argv, logFile: p.logFile },
  );
}
