import { EXIT, UlbridgeError } from '../ops/errors.js';

/** Stable error codes of the stack launcher (documented in docs/stack.md). */
export type StackErrorCode =
  | 'STACK_START_FAILED'
  | 'STACK_PORT_IN_USE'
  | 'STACK_JAVA_MISSING'
  | 'STACK_MAVEN_FAILED'
  | 'STACK_BINARY_MISSING'
  | 'STACK_SERVICE_EXITED'
  | 'STACK_NOT_RUNNING'
  | 'STACK_ALREADY_RUNNING'
  | 'STACK_NO_SUCH_SERVICE'
  | 'STACK_CONNECTOR_FAILED'
  | 'STACK_DOCKER_UNAVAILABLE';

export interface StackErrorDetails {
  /** The service that failed, when one did. */
  service?: string;
  /** Its log file (kept on disk after a failed start unless asked otherwise). */
  logFile?: string;
  /** The command line that was run. */
  command?: string[];
}

/** A coded operator error that also names the service, its command line and its log file. */
export class StackError extends UlbridgeError {
  readonly service: string | undefined;
  readonly logFile: string | undefined;
  readonly command: string[] | undefined;

  constructor(code: StackErrorCode, message: string, details: StackErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, EXIT.error, options);
    this.service = details.service;
    this.logFile = details.logFile;
    this.command = details.command;
  }
}

/** Quotes a command line for an error message (copy-pasteable into a shell). */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
