/**
 * Child processes of the stack: spawned in their own process group with stdout/stderr going to a
 * log file (so they can outlive the CLI that started them), probed and stopped by pid alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { StackError, formatCommand } from './errors.js';

export interface SpawnSpec {
  /** Service (or tool) name used in messages. */
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this OS user (only when we are root). */
  user?: { uid: number; gid: number };
}

export interface Spawned {
  name: string;
  pid: number;
  argv: string[];
  logFile: string;
  child: ChildProcess;
  /** Set once the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a process in a new process group, output appended to `logFile`. Rejects if it cannot be spawned. */
export async function spawnLogged(spec: SpawnSpec): Promise<Spawned> {
  const argv = [spec.command, ...spec.args];
  const fd = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? `${spec.command} not found` : e.message;
      reject(
        new StackError(
          'STACK_START_FAILED',
          `${spec.name}: cannot run \`${formatCommand(argv)}\`: ${why}`,
          {
            service: spec.name,
            command: argv,
            logFile: spec.logFile,
          },
          { cause: e },
        ),
      );
    });
  });
  // The stack is stopped explicitly (stop() or `stack down`); never keep the event loop alive for it.
  child.unref();
  const s: Spawned = {
    name: spec.name,
    pid: child.pid!,
    argv,
    logFile: spec.logFile,
    child,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        s.exit = { code, signal };
        resolve({ code, signal });
      });
    }),
  };
  return s;
}

/** Runs a tool to completion (initdb, mariadb-install-db, kafka storage format); non-zero exit throws. */
export async function runLogged(spec: SpawnSpec, timeoutMs: number): Promise<void> {
  const p = await spawnLogged(spec);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const r = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (r === 'timeout') {
    killGroup(p.pid, 'SIGKILL');
    throw new StackError(
      'STACK_START_FAILED',
      `${spec.name}: \`${formatCommand(p.argv)}\` did not finish within ${Math.round(timeoutMs / 1000)} s; see ${spec.logFile}${tailSuffix(spec.logFile)}`,
      { service: spec.name, command: p.argv, logFile: spec.logFile },
    );
  }
  if (r.code !== 0) {
    throw new StackError(
      'STACK_START_FAILED',
      `${spec.name}: \`${formatCommand(p.argv)}\` failed (${describeExit(r)}); see ${spec.logFile}${tailSuffix(spec.logFile)}`,
      { service: spec.name, command: p.argv, logFile: spec.logFile },
    );
  }
}

export function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

/** The last `lines` lines of a log file ('' if unreadable). */
export function tailFile(path: string, lines = 25, maxBytes = 32 * 1024): string {
  try {
    const buf = readFileSync(path);
    const text = buf.subarray(Math.max(0, buf.length - maxBytes)).toString('utf8');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  }
}

/** "\n--- last lines of LOG ---\n..." for error messages, or ''. */
export function tailSuffix(path: string, lines = 25): string {
  const t = tailFile(path, lines);
  return t ? `\n--- last lines of ${path} ---\n${t}` : '';
}

interface ProcInfo {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
}

function readStat(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid pgrp ... ; comm may contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0] ?? '?', ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

const hasProc = (() => {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
})();

/** True if `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (!hasProc) return true;
  const st = readStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

function liveProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st && st.state !== 'Z' && st.state !== 'X') out.push(st);
  }
  return out;
}

/**
 * Live processes that belong to a service started as `pid` (its own process group): the group's
 * members plus every descendant. PostgreSQL's children call setsid(), so the group alone misses them.
 */
export function serviceProcesses(pid: number): number[] {
  if (!hasProc) return isAlive(pid) ? [pid] : [];
  const procs = liveProcs();
  const found = new Set<number>();
  for (const p of procs) if (p.pid === pid || p.pgrp === pid) found.add(p.pid);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return [...found].sort((a, b) => a - b);
}

/** Sends `signal` to the whole process group (falls back to the pid); ignores "no such process". */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      /* gone */
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until none of `pids` is alive; true if that happened within `timeoutMs`. */
export async function waitAllGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!pids.some(isAlive)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/**
 * Stops a service started as `pid`: `signal` to its process group, up to `graceMs` for it and all
 * its processes to exit, then SIGKILL to every one of them that is left.
 */
export async function stopGroup(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const pids = serviceProcesses(pid);
  if (pids.length === 0) return;
  killGroup(pid, signal);
  // SIGKILL leaves no chance to clean up: hit the setsid()ed children directly too.
  if (signal === 'SIGKILL') for (const p of pids) killGroup(p, 'SIGKILL');
  if (await waitAllGone(pids, graceMs)) return;
  const left = [...new Set([...pids, ...serviceProcesses(pid)])];
  killGroup(pid, 'SIGKILL');
  for (const p of left) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await waitAllGone(left, 10_000);
}

/**
 * Memory of a service, over all its processes (see serviceProcesses), from /proc: `rssBytes` sums
 * VmRSS (shared pages counted once per process, an upper bound for postgres), `pssBytes` sums the
 * proportional set size (shared pages split between sharers; 0 where smaps_rollup is unreadable).
 */
export function serviceMemory(pid: number): { rssBytes: number; pssBytes: number } {
  let rssBytes = 0;
  let pssBytes = 0;
  for (const p of serviceProcesses(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) rssBytes += Number(m[1]) * 1024;
      const q = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      if (q) pssBytes += Number(q[1]) * 1024;
    } catch {
      /* exited meanwhile, or not readable */
    }
  }
  return { rssBytes, pssBytes };
}
