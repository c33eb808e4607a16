import { Command, CommanderError } from 'commander';
import { isUlbridgeError } from '../ops/errors.js';
import { registerHashCommand } from './hash.js';
import { registerIdCommands } from './id.js';
import { registerRunCommand } from './run.js';
import { registerDemoCommand } from './demo.js';
import { registerVerifyCommand } from './verify.js';
import { registerStackCommands } from './stack.js';
import { registerDiffCommand } from './diff.js';
import { registerStatusCommand } from './status.js';
import { registerConnectCommands } from './connect.js';

/** commander's `error: unknown option '--x'` as `ulbridge: USAGE: unknown option '--x' (see ...)`. */
export function usageLine(commanderMessage: string): string {
  const what = commanderMessage.trim().replace(/^error: /, '');
  return `ulbridge: USAGE: ${what} (see ulbridge --help, or ulbridge COMMAND --help)\n`;
}

function buildProgram(): Command {
  const program = new Command('ulbridge')
    .description('Move OpenSIPS usrloc registrations between registrar generations with valid contact ids')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    // A usage error is one coded line like every other error: `ulbridge: USAGE: ...`, exit 2.
    .configureOutput({ outputError: (str, write) => write(usageLine(str)) });
  registerHashCommand(program);
  registerIdCommands(program);
  registerRunCommand(program);
  registerDemoCommand(program);
  registerVerifyCommand(program);
  registerStackCommands(program);
  registerDiffCommand(program);
  registerStatusCommand(program);
  registerConnectCommands(program);
  return program;
}

function report(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // commander already printed its message; help and version exit 0.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (isUlbridgeError(e)) {
    process.stderr.write(`ulbridge: ${e.code}: ${e.message}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ulbridge: INTERNAL: ${msg} (rerun with --debug for a stack trace)\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return report(e, argv.includes('--debug'));
  }
}

process.exitCode = await main(process.argv);
