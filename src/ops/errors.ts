/**
 * Errors that reach an operator. Every one carries a stable `code` (documented in docs/errors.md)
 * and a message that says what to do next. The CLI prints `ulbridge: <CODE>: <message>` on one line
 * and exits with `exitCode` (2 = operational error, unless stated otherwise); stack traces only
 * with --debug.
 */
export class UlbridgeError extends Error {
  override readonly name = 'UlbridgeError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, findings: 1, error: 2 } as const;

export function isUlbridgeError(e: unknown): e is UlbridgeError {
  return e instanceof UlbridgeError;
}

/** Wraps a low-level error (driver, socket, fs) so the operator sees a coded one-line message. */
export function wrapError(code: string, what: string, cause: unknown): UlbridgeError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new UlbridgeError(code, `${what}: ${detail}`, EXIT.error, { cause });
}
