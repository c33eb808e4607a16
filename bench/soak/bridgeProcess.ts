/**
 * `ulbridge run --config FILE` as a child process (node bin/ulbridge.js: the built dist/), one
 * log file per start, and the two ways it can end: killed by the soak (`kill -9`, expected) or
 * ending by itself (a crash, whatever the exit code).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/ulbridge.js');

export interface Crash {
  /** Which start (1-based) of the bridge ended by itself. */
  start: number;
  cycle: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  logFile: string;
  /** Its last log lines. */
  tail: string[];
}

export class BridgeProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private killing = false;
  starts = 0;
  kills = 0;
  readonly crashes: Crash[] = [];
  /** Set by the caller: the cycle a crash is attributed to. */
  cycle = 0;

  constructor(
    private readonly configFile: string,
    private readonly logDir: string,
    private readonly onCrash: (c: Crash) => void,
  ) {}

  get running(): boolean {
    return this.child !== null;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    if (this.child) return;
    this.starts++;
    const logFile = join(this.logDir, `bridge-${String(this.starts).padStart(4, '0')}.log`);
    const out = createWriteStream(logFile);
    const child = spawn(process.execPath, [BIN, 'run', '--config', this.configFile], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ULBRIDGE_LOG_LEVEL: process.env.ULBRIDGE_LOG_LEVEL ?? 'info' },
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    this.child = child;
    this.killing = false;
    const start = this.starts;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        // Let the pipes drain into the log file before it is read.
        setTimeout(() => {
          out.end();
          if (!this.killing) {
            const crash: Crash = { start, cycle: this.cycle, code, signal, logFile, tail: tail(logFile, 20) };
            this.crashes.push(crash);
            this.onCrash(crash);
          }
          if (this.child === child) this.child = null;
          resolve();
        }, 200);
      });
    });
  }

  /** kill -9 and wait until it is gone. */
  async kill9(): Promise<void> {
    if (!this.child) return;
    this.killing = true;
    this.kills++;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (drain) and wait; returns the exit code, or null when it had to be killed after `timeoutMs`. */
  async terminate(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const child = this.child;
    if (!child) return { code: null, signal: null, ms: 0 };
    this.killing = true;
    const t0 = Date.now();
    const result = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const r = await result;
    clearTimeout(timer);
    await this.exited;
    return { ...r, ms: Date.now() - t0 };
  }

  /** Waits until the current process has ended (crash detection in between). */
  async waitExit(): Promise<void> {
    await this.exited;
  }
}

function tail(file: string, n: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
  } catch {
    return [];
  }
}

interface LogLine {
  level?: number;
  msg?: string;
  err?: { message?: string };
}

export interface LogScan {
  files: number;
  lines: number;
  /** pino level 60. */
  fatal: string[];
  /** pino level 50, by message, with counts. */
  errors: Map<string, number>;
  /** Lines that are not JSON (a stack trace printed by node itself, an uncaught exception). */
  nonJson: string[];
}

/** Reads every bridge log of the run: fatal lines, error lines by message, non-JSON output. */
export function scanLogs(logDir: string): LogScan {
  const scan: LogScan = { files: 0, lines: 0, fatal: [], errors: new Map(), nonJson: [] };
  for (const f of readdirSync(logDir)
    .filter((x) => x.endsWith('.log'))
    .sort()) {
    scan.files++;
    const lines = readFileSync(join(logDir, f), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      scan.lines++;
      let doc: LogLine | null;
      try {
        doc = JSON.parse(line) as LogLine | null;
      } catch {
        // The last line of a process killed with -9 may be cut short.
        if (i < lines.length - 2) scan.nonJson.push(`${f}: ${line.slice(0, 300)}`);
        return;
      }
      if (!doc || typeof doc.level !== 'number') return;
      if (doc.level >= 60) scan.fatal.push(`${f}: ${line.slice(0, 500)}`);
      else if (doc.level >= 50) {
        const key = `${doc.msg ?? ''}${doc.err?.message ? `: ${doc.err.message.slice(0, 160)}` : ''}`;
        scan.errors.set(key, (scan.errors.get(key) ?? 0) + 1);
      }
    });
  }
  return scan;
}
