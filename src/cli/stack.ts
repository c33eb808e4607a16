/**
 * `ulbridge stack up|down|status|restart`: a local PostgreSQL + MariaDB + Kafka + Kafka Connect/Debezium
 * stack that outlives the command (`up` leaves it running until `down`). The processes and
 * addresses are kept in a state file ($ULBRIDGE_STACK_DIR/state.json, default
 * ~/.cache/ulbridge/stack/state.json).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isUlbridgeError } from '../ops/errors.js';
import { StackError } from '../stack/errors.js';
import { anyAlive, serviceAddress, stackStatus } from '../stack/status.js';
import { readState, removeState, stateFile, writeState } from '../stack/state.js';
import { attachStack, startStack } from '../stack/stack.js';
import { restartService, serviceName } from '../stack/restart.js';
import { SERVICES, type ServiceName, type StackState } from '../stack/types.js';
import { formatTable, printJson, printLine } from './output.js';

/** The SERVICE argument of `stack restart`. */
export function parseService(value: string): ServiceName {
  try {
    return serviceName(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function parseServices(value: string): ServiceName[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of list) {
    if (!(SERVICES as readonly string[]).includes(s))
      throw new InvalidArgumentError(`unknown service "${s}" (expected ${SERVICES.join(', ')})`);
  }
  if (list.length === 0) throw new InvalidArgumentError('no service given');
  return list as ServiceName[];
}

/** The connection details of a stack as one camelCase JSON document. */
export function connectionDetails(state: StackState, file: string): Record<string, unknown> {
  return {
    dir: state.dir,
    stateFile: file,
    startedAt: state.startedAt,
    readyMs: state.readyMs,
    services: state.services,
    ...(state.postgres ? { postgres: state.postgres } : {}),
    ...(state.mariadb ? { mariadb: state.mariadb } : {}),
    ...(state.kafka ? { kafka: { brokers: state.kafka.brokers, bootstrapServers: state.kafka.brokers.join(',') } } : {}),
    ...(state.connect ? { connect: state.connect } : {}),
    processes: state.processes.map((p) => ({ service: p.service, pid: p.pid, logFile: p.logFile })),
  };
}

function detailsTable(state: StackState): string {
  const rows = state.processes.map((p) => {
    const addr =
      p.service === 'postgres'
        ? state.postgres!.url
        : p.service === 'mariadb'
          ? state.mariadb!.url
          : p.service === 'kafka'
            ? state.kafka!.brokers.join(',')
            : state.connect!.url;
    return [p.service, addr, String(p.pid), p.logFile];
  });
  return formatTable(['service', 'address', 'pid', 'log'], rows);
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description('run a local CDC stack (PostgreSQL, MariaDB, Kafka KRaft, Kafka Connect + Debezium) on 127.0.0.1');

  stack
    .command('up')
    .description('start the stack in the background and print its connection details')
    .option('--json', 'print one JSON document')
    .option('--services <list>', `comma-separated subset of ${SERVICES.join(',')} (connect implies kafka)`, parseServices)
    .option('--dir <dir>', 'stack directory (data and logs); default: a new temporary directory')
    .option('--timeout <seconds>', 'readiness timeout per service', (v) => Number(v), 120)
    .action(async (o: { json?: boolean; services?: ServiceName[]; dir?: string; timeout: number }) => {
      const file = stateFile();
      const existing = readState(file);
      if (existing && anyAlive(existing)) {
        throw new StackError(
          'STACK_ALREADY_RUNNING',
          `a stack is already running (dir ${existing.dir}, state ${file}); run \`ulbridge stack down\` first`,
        );
      }
      const s = await startStack({
        detached: true,
        timeoutMs: o.timeout * 1000,
        ...(o.services ? { services: o.services } : {}),
        ...(o.dir ? { dir: o.dir } : {}),
      });
      writeState(s.state, file);
      if (o.json) {
        printJson(connectionDetails(s.state, file));
        return;
      }
      printLine(detailsTable(s.state));
      printLine();
      printLine(`ready in ${(s.state.readyMs / 1000).toFixed(1)} s; dir ${s.dir}`);
      printLine('stop it with: ulbridge stack down');
    });

  stack
    .command('down')
    .description('stop the stack started by `stack up` and remove its directory')
    .option('--keep-dir', 'keep the stack directory (data and logs)')
    .option('--json', 'print one JSON document')
    .action(async (o: { keepDir?: boolean; json?: boolean }) => {
      const file = stateFile();
      const state = readState(file);
      if (!state) {
        if (o.json) printJson({ stopped: false, reason: 'no stack state', stateFile: file });
        else printLine(`no stack running (no ${file})`);
        return;
      }
      const t0 = Date.now();
      await attachStack(state).stop({ keepDir: o.keepDir ?? false });
      removeState(file);
      if (o.json) printJson({ stopped: true, dir: state.dir, dirKept: o.keepDir ?? false, stopMs: Date.now() - t0 });
      else
        printLine(
          `stopped ${state.services.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s${o.keepDir ? `; kept ${state.dir}` : ''}`,
        );
    });

  stack
    .command('status')
    .description('probe every service of the running stack (exit 0 all up, 1 otherwise)')
    .option('--json', 'print one JSON document')
    .action(async (o: { json?: boolean }) => {
      const file = stateFile();
      const state = readState(file);
      if (!state) {
        if (o.json) printJson({ running: false, stateFile: file, services: [] });
        else printLine(`no stack running (no ${file})`);
        process.exitCode = 1;
        return;
      }
      const services = await stackStatus(state);
      const allUp = services.every((s) => s.up);
      if (o.json) {
        printJson({ running: allUp, dir: state.dir, stateFile: file, startedAt: state.startedAt, services });
      } else {
        printLine(
          formatTable(
            ['service', 'state', 'address', 'pid', 'rss', 'pss'],
            services.map((s) => [
              s.service,
              s.up ? 'up' : s.running ? 'not answering' : 'down',
              s.address,
              String(s.pid ?? ''),
              mib(s.rssBytes),
              mib(s.pssBytes),
            ]),
          ),
        );
      }
      process.exitCode = allUp ? 0 : 1;
    });

  stack
    .command('restart')
    .description('stop one service of the running stack and start it again on the same port and data directory')
    .argument('<service>', `one of ${SERVICES.join(', ')}`, parseService)
    .option('--kill', 'SIGKILL every process of the service (a crash) instead of a clean stop')
    .option(
      '--timeout <seconds>',
      'readiness timeout',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${v}"`);
        return n;
      },
      120,
    )
    .option('--json', 'print one JSON document')
    .action(async (service: ServiceName, o: { kill?: boolean; timeout: number; json?: boolean }) => {
      const file = stateFile();
      const state = readState(file);
      if (!state) throw new StackError('STACK_NOT_RUNNING', `no stack running (no ${file}); start one with \`ulbridge stack up\``);
      try {
        const r = await restartService(state, service, {
          ...(o.kill ? { kill: true } : {}),
          timeoutMs: o.timeout * 1000,
          log: (l) => process.stderr.write(`ulbridge stack: ${l}\n`),
        });
        if (o.json) printJson({ ...r, address: serviceAddress(state, service) });
        else
          printLine(
            `restarted ${service} (${r.signal}, pid ${r.oldPid} -> ${r.pid}) on ${serviceAddress(state, service)}: stopped in ${(r.stopMs / 1000).toFixed(1)} s, ready in ${(r.readyMs / 1000).toFixed(1)} s`,
          );
      } finally {
        // The new pid (or the old one, if the start failed) is what `status` and `down` need.
        writeState(state, file);
      }
    });
}

/** Run directly (`tsx src/cli/stack.ts stack up`) for manual testing without the main CLI. */
function runDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (runDirectly()) {
  const program = new Command('ulbridge').exitOverride();
  registerStackCommands(program);
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
    else if (isUlbridgeError(e)) {
      process.stderr.write(`ulbridge: ${e.code}: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`ulbridge: INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 2;
    }
  }
}
