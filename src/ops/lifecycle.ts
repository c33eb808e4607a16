import { UlbridgeError } from './errors.js';

/**
 * One lifecycle for every stage (ingest, projection, reverse) and for the service itself:
 *
 *   idle -> starting -> running -> stopping -> stopped
 *                 \          \-> failed (a crash after start; stop() still releases everything)
 *                  \-> failed (the start threw: what it had opened is released before it rethrows)
 *
 * - `start(body)` runs once. Everything the body opens is registered with `hold()` as it is
 *   opened, so a start that fails half-way releases exactly that, in reverse order.
 * - `stop()` is valid in any state and idempotent. Called while starting, it aborts the start
 *   (`signal` fires; `sleep()` and `checkpoint()` end the body with a STOPPED error), waits for the
 *   body to unwind, then releases what is held. A running stage's holds drain (a consumer's
 *   disconnect finishes the batch in flight and leaves the group).
 */
export type LifecycleState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** The error a start ends with when stop() interrupted it: not a failure. */
export class StoppedError extends UlbridgeError {
  constructor(what: string) {
    super('STOPPED', `${what} was stopped while starting`);
  }
}

export function isStoppedError(e: unknown): boolean {
  return e instanceof StoppedError;
}

export class Lifecycle {
  private current: LifecycleState = 'idle';
  private failureMessage: string | null = null;
  private readonly held: Array<{ what: string; release: () => Promise<unknown> }> = [];
  private readonly abort = new AbortController();
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly failureListeners: Array<(message: string) => void> = [];

  constructor(
    /** "ingest \"legacy\"", "projection \"main\"", "the bridge": used in error messages. */
    readonly what: string,
    private readonly onReleaseError: (what: string, err: unknown) => void = () => undefined,
  ) {}

  get state(): LifecycleState {
    return this.current;
  }

  /** Why the stage failed (its start threw, or it crashed for good), else null. */
  get failure(): string | null {
    return this.failureMessage;
  }

  get stopRequested(): boolean {
    return this.abort.signal.aborted;
  }

  /** Fires when stop() is called. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Records something the start opened; stop() (or a failed start) releases it, newest first. */
  hold(what: string, release: () => Promise<unknown>): void {
    this.held.push({ what, release });
  }

  /** Throws StoppedError when stop() has been called: a start calls this between its steps. */
  checkpoint(): void {
    if (this.stopRequested) throw new StoppedError(this.what);
  }

  /** Waits `ms`, or less when stop() is called (then throws StoppedError). */
  async sleep(ms: number): Promise<void> {
    this.checkpoint();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.abort.signal;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
    this.checkpoint();
  }

  async start(body: () => Promise<void>): Promise<void> {
    if (this.current !== 'idle') throw new UlbridgeError('INVALID_STATE', `${this.what} cannot start: it is ${this.current}`);
    this.current = 'starting';
    this.starting = (async () => {
      try {
        this.checkpoint();
        await body();
        this.checkpoint();
      } catch (e) {
        await this.releaseAll();
        if (this.stopRequested) {
          this.current = 'stopped';
          throw e instanceof StoppedError ? e : new StoppedError(this.what);
        }
        this.fail(e);
        throw e;
      }
      // A crash reported while the body finished (fail() from a consumer's event) stands.
      if (this.current === 'starting') this.current = 'running';
    })();
    return this.starting;
  }

  /** Marks a running stage failed for good (e.g. its consumer crashed without restart). */
  fail(e: unknown): void {
    this.current = 'failed';
    if (this.failureMessage !== null) return;
    this.failureMessage = e instanceof Error ? e.message : String(e);
    for (const listener of this.failureListeners) listener(this.failureMessage);
  }

  /** Calls `listener` once, with the failure, when the stage fails (its start threw, or it crashed). */
  onFailure(listener: (message: string) => void): void {
    this.failureListeners.push(listener);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.stopping ??= (async () => {
      if (this.starting) await this.starting.catch(() => undefined);
      if (this.current === 'stopped') return;
      const failed = this.current === 'failed';
      this.current = 'stopping';
      await this.releaseAll();
      this.current = failed ? 'failed' : 'stopped';
    })();
    return this.stopping;
  }

  private async releaseAll(): Promise<void> {
    while (this.held.length > 0) {
      const { what, release } = this.held.pop()!;
      try {
        await release();
      } catch (err) {
        this.onReleaseError(what, err);
      }
    }
  }
}
