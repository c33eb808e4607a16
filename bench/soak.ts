/**
 * `npm run soak [-- flags]`: the crash-and-poison soak (issue 9 item 5), a script outside CI.
 *
 * A legacy OpenSIPS 2.1 table in PostgreSQL, captured by a real Debezium connector, is churned by
 * a registrar emulation (src/demo/legacyTable.ts) while `ulbridge run` (node bin/ulbridge.js, a
 * child process) bridges it into a 4.0 target table. The bridge is killed with `kill -9` --cycles
 * times, each time after the projection committed --batches more batches since its last restart
 * plus a random delay, so the kill lands while batches are being applied. Meanwhile --events
 * hostile CDC records (bench/soak/hostile.ts: wrong types, huge values, invalid UTF-8, unknown ops,
 * truncated JSON, schema drift, garbage) are produced raw into the same CDC topic.
 *
 * At the end it lets the bridge catch up and prints a summary: cycles, bindings lost, duplicated,
 * changed, extra (an independent SQL comparison, test/support/independentCompare.ts), contact ids
 * of unchanged bindings that changed, dead letters by stage and reason against the ones the
 * hostile records had to produce, crashes (the bridge ending by itself) and fatal log lines, and
 * the verdicts of `ulbridge diff` and `ulbridge status`. Exit code 1 when anything was lost,
 * duplicated, changed or extra, an id moved, a dead letter is missing or unexpected, or the bridge
 * crashed; 2 when the soak itself failed. See docs/soak.md.
 *
 * Services: the ones named by ULBRIDGE_TEST_PG_URL, ULBRIDGE_TEST_KAFKA_BROKERS and
 * ULBRIDGE_TEST_CONNECT_URL (as for `npm test`), else a stack of its own (src/stack startStack).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { rng } from '../src/demo/workload.js';
import { legacyScenario, type Scenario } from '../test/e2e/harness.js';
import {
  compareIndependently,
  describeComparison,
  idsMovedForUnchanged,
  legacyFingerprints,
  targetIdsByBinding,
  type IndependentComparison,
  type TableSpec,
} from '../test/support/independentCompare.js';
import { parseSoakArgs, type SoakOptions } from './soak/args.js';
import { BIN, BridgeProcess, scanLogs, type Crash } from './soak/bridgeProcess.js';
import { HostileFeed } from './soak/hostileFeed.js';
import { DEFAULT_CONTEXT } from './soak/hostile.js';
import { groupLag, highWatermarks, tallyDeadLetters, type LetterTally } from './soak/topics.js';

const say = (line: string): void => void process.stderr.write(`soak: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

const TARGET = { name: 'main', release: '4.0', hashSize: 9 } as const;

/** SIGINT/SIGTERM: stop at the next step, clean up (connector, slot, databases, topics), print what there is. */
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`${sig}: stopping after the current step and cleaning up (again to quit at once)`);
  });
}
function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}
const STATE_SCHEMA = 'ulbridge_main';

interface Services {
  stop(): Promise<void>;
}

async function services(): Promise<Services> {
  const vars = ['ULBRIDGE_TEST_PG_URL', 'ULBRIDGE_TEST_KAFKA_BROKERS', 'ULBRIDGE_TEST_CONNECT_URL'];
  if (vars.every((v) => process.env[v])) {
    say(`using the services named by ${vars.join(', ')}`);
    return { stop: async () => undefined };
  }
  say('starting PostgreSQL, Kafka and Kafka Connect + Debezium (src/stack); set ULBRIDGE_TEST_* to use running ones');
  const stackModule = '../src/stack/stack.js';
  const { startStack } = (await import(stackModule)) as typeof import('../src/stack/stack.js');
  const stack = await startStack({ services: ['postgres', 'kafka', 'connect'], log: (l) => say(`stack: ${l}`) });
  process.env.ULBRIDGE_TEST_PG_URL = stack.postgres!.url;
  process.env.ULBRIDGE_TEST_KAFKA_BROKERS = stack.kafka!.brokers.join(',');
  process.env.ULBRIDGE_TEST_CONNECT_URL = stack.connect!.url;
  return { stop: () => stack.stop({ fast: true }) };
}

/** The projection's committed next offsets per log partition, from its state schema. */
async function storedOffsets(client: pg.Client, logTopic: string): Promise<Map<number, bigint>> {
  try {
    const { rows } = await client.query<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset::text AS next_offset FROM ${STATE_SCHEMA}.offsets WHERE topic = $1`,
      [logTopic],
    );
    return new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
  } catch {
    return new Map(); // the state schema does not exist before the first start
  }
}

/**
 * Waits until the projection committed `n` more batches (a stored offset moved; several batches
 * between two polls count as one, so this errs on the late side), or `timeoutMs` passed.
 */
async function waitForBatches(
  client: pg.Client,
  logTopic: string,
  n: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<{ batches: number; ms: number }> {
  const t0 = Date.now();
  let last = await storedOffsets(client, logTopic);
  let batches = 0;
  while (batches < n && Date.now() - t0 < timeoutMs && alive()) {
    await sleep(50);
    const now = await storedOffsets(client, logTopic);
    for (const [p, o] of now) if (last.get(p) !== o) batches++;
    last = now;
  }
  return { batches, ms: Date.now() - t0 };
}

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

interface Summary {
  options: SoakOptions;
  cycles: number;
  kills: number;
  starts: number;
  stalls: number;
  elapsedSeconds: number;
  churn: { changes: number; refreshes: number; newContacts: number; newAors: number; deregistrations: number };
  compare: IndependentComparison | null;
  unchanged: { bindings: number; idsChanged: number; examples: string[] };
  hostile: HostileFeed['books'] | null;
  letters: LetterTally | null;
  lettersMissing: string[];
  lettersUnexpected: string[];
  lettersWrongReason: string[];
  crashes: Crash[];
  fatalLines: string[];
  errorLines: Map<string, number>;
  nonJsonLines: string[];
  diff: { code: number | null; verdict: string };
  status: { code: number | null; verdict: string[] };
  statusSinceEnd: { code: number | null; verdict: string[] };
  drain: { code: number | null; signal: string | null; ms: number } | null;
  caughtUp: boolean;
}

async function main(): Promise<number> {
  const o = parseSoakArgs(process.argv.slice(2));
  if (!existsSync(join(BIN, '../../dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (the soak runs node bin/ulbridge.js)');
  say(`dist/ built ${statSync(join(BIN, '../../dist/cli/main.js')).mtime.toISOString()} (run \`npm run build\` after changing src/)`);
  say(
    `${o.cycles} kill -9 cycles, ${o.events} hostile records at ${o.rate}/s, ${o.churnRate} registrar changes/s, ${o.rows} rows / ${o.aors} AORs, seed ${o.seed}`,
  );
  const t0 = Date.now();
  const svc = await services();
  let scenario: Scenario | null = null;
  let bridge: BridgeProcess | null = null;
  const summary: Summary = {
    options: o,
    cycles: 0,
    kills: 0,
    starts: 0,
    stalls: 0,
    elapsedSeconds: 0,
    churn: { changes: 0, refreshes: 0, newContacts: 0, newAors: 0, deregistrations: 0 },
    compare: null,
    unchanged: { bindings: 0, idsChanged: 0, examples: [] },
    hostile: null,
    letters: null,
    lettersMissing: [],
    lettersUnexpected: [],
    lettersWrongReason: [],
    crashes: [],
    fatalLines: [],
    errorLines: new Map(),
    nonJsonLines: [],
    diff: { code: null, verdict: 'not run' },
    status: { code: null, verdict: ['not run'] },
    statusSinceEnd: { code: null, verdict: ['not run'] },
    drain: null,
    caughtUp: false,
  };
  const logDir = mkdtempSync(join(tmpdir(), 'ulbridge-soak-'));
  say(`bridge logs and config in ${logDir}`);
  let stateClient: pg.Client | null = null;
  let feed: HostileFeed | null = null;
  const kafka = new Kafka({
    clientId: 'ulbridge-soak',
    brokers: process.env.ULBRIDGE_TEST_KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  });
  try {
    // 1. The legacy table (seeded), its Debezium connector, an empty 4.0 target.
    say(`seeding ${o.rows} legacy rows and registering the Debezium connector`);
    scenario = await legacyScenario('soak', { rows: o.rows, aors: o.aors, seed: o.seed, targets: [{ release: TARGET.release }] });
    const s = scenario;
    const targetUrl = s.targets[0]!.url;
    // A third of the seeded rows is left alone by the registrar emulation (taken out of its map) and
    // given a day more of life, so that "unchanged bindings keep their contact ids" has bindings to
    // judge at the end of a long run. The UPDATE flows through Debezium before the baseline.
    const frozen = [...s.writer.rows.keys()].filter((_id, i) => i % 3 === 0);
    for (const id of frozen) s.writer.forget(id);
    await s.legacyClient.query(`UPDATE location SET expires = expires + interval '1 day' WHERE id = ANY($1::int[])`, [frozen]);
    say(`${frozen.length} seeded rows left untouched by the registrar emulation (their ids must not move)`);
    // The config file as an operator writes it (docs/configuration.md).
    const cfg = {
      kafka: { brokers: process.env.ULBRIDGE_TEST_KAFKA_BROKERS!.split(',') },
      log: { topic: s.logTopic, partitions: 4, deadLetterTopic: s.deadLetterTopic },
      sources: [{ name: 'legacy', release: '2.1', topic: s.cdcTopic, groupId: `soak-${process.pid}-ingest` }],
      targets: [
        {
          name: TARGET.name,
          db: targetUrl,
          table: 'location',
          release: TARGET.release,
          hashSize: TARGET.hashSize,
          groupId: `soak-${process.pid}-${TARGET.name}`,
        },
      ],
      http: { port: 0 },
    };
    const configFile = join(logDir, 'config.json');
    writeFileSync(configFile, JSON.stringify(cfg, null, 2));
    const legacySpec: TableSpec = { url: s.legacy.url, release: '2.1', timeZone: 'UTC', caseSensitive: false };
    const targetSpec: TableSpec = { url: targetUrl, release: TARGET.release, timeZone: 'UTC' };
    const ingestGroup = cfg.sources[0]!.groupId;

    bridge = new BridgeProcess(configFile, logDir, (c) =>
      say(
        `CRASH: bridge start #${c.start} ended by itself in cycle ${c.cycle} (code ${c.code}, signal ${c.signal}); log ${c.logFile}:\n    ${c.tail.join('\n    ')}`,
      ),
    );
    const b = bridge;
    stateClient = new pg.Client({ connectionString: targetUrl });
    stateClient.on('error', () => undefined);
    await stateClient.connect();

    // 2. The snapshot: the target must equal the legacy table before anything is broken.
    b.start();
    const tSnap = Date.now();
    for (;;) {
      const c = await compareIndependently(legacySpec, targetSpec);
      if (c.equal) break;
      if (!b.running) b.start(); // a crash is recorded; keep going
      checkInterrupted();
      if (Date.now() - tSnap > 300_000) throw new Error(`the snapshot did not converge in 300 s: ${describeComparison(c)}`);
      await sleep(1000);
    }
    const fingerprintsBefore = await legacyFingerprints(legacySpec);
    const idsBefore = await targetIdsByBinding(targetSpec);
    say(`snapshot applied: ${fingerprintsBefore.size} live bindings equal on both sides after ${secs(tSnap)}`);

    // 3. Load: registrar churn and hostile records, in the background.
    let stopLoad = false;
    let loadError = null as Error | null;
    const churn = (async () => {
      const interval = 1000 / o.churnRate;
      let next = Date.now();
      while (!stopLoad && !interrupted) {
        await s.writer.churnOnce();
        summary.churn.changes++;
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -5000) next = Date.now(); // fell behind (a slow database): do not burst
      }
    })().catch((e: unknown) => {
      loadError ??= e instanceof Error ? e : new Error(String(e));
    });
    const ctx = { ...DEFAULT_CONTEXT, prefix: s.cdcTopic.replace(/\.public\.location$/, ''), db: s.legacy.name, maxBytes: o.maxEventBytes };
    feed = new HostileFeed(kafka, s.cdcTopic, ctx, cfg.log.partitions, o.seed, { name: 'legacy', timeZone: 'UTC', caseSensitive: false });
    await feed.connect();
    const f = feed;
    const hostile = (async () => {
      const per = Math.max(1, Math.round(o.rate / 4)); // four sends per second
      let next = Date.now();
      while (f.books.sent < o.events && !interrupted) {
        await f.send(Math.min(per, o.events - f.books.sent));
        next += (per / o.rate) * 1000;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
    })().catch((e: unknown) => {
      loadError ??= e instanceof Error ? e : new Error(String(e));
    });

    // 4. The kill -9 cycles.
    const random = rng(o.seed * 7 + 1);
    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      checkInterrupted();
      if (loadError) throw loadError;
      b.cycle = cycle;
      if (!b.running) b.start();
      const w = await waitForBatches(stateClient, s.logTopic, o.batches, 120_000, () => b.running && !interrupted);
      checkInterrupted();
      if (!b.running) {
        say(`cycle ${cycle}: the bridge ended before the kill (see CRASH above); restarting`);
        continue;
      }
      if (w.batches < o.batches) {
        summary.stalls++;
        say(`cycle ${cycle}: STALL: only ${w.batches} of ${o.batches} batches committed in ${(w.ms / 1000).toFixed(0)} s`);
      }
      const delay = Math.floor(random() * o.maxDelayMs);
      await sleep(delay);
      const pid = b.pid;
      await b.kill9();
      summary.cycles = cycle;
      const books = f.books;
      say(
        `cycle ${cycle}/${o.cycles}: kill -9 pid ${pid} after ${w.batches} batches in ${(w.ms / 1000).toFixed(1)} s + ${delay} ms; ` +
          `churn ${summary.churn.changes} changes (${s.writer.rows.size} churned rows), hostile ${books.sent}/${o.events} sent, crashes ${b.crashes.length}, ${secs(t0)}`,
      );
      await sleep(Math.floor(random() * o.maxDownMs)); // changes keep coming while it is down
      b.start();
    }
    b.cycle = o.cycles + 1;
    if (!b.running) b.start();

    // 5. Stop the load (the hostile records all go out first), let the bridge catch up.
    if (f.books.sent < o.events) say(`cycles done; waiting for the last ${o.events - f.books.sent} hostile records to be sent`);
    await hostile;
    stopLoad = true;
    await churn;
    if (loadError) throw loadError;
    Object.assign(summary.churn, s.writer.counts);
    say(`load stopped: ${summary.churn.changes} registrar changes, ${f.books.sent} hostile records; waiting for the bridge to catch up`);
    const tSettle = Date.now();
    let cmp: IndependentComparison | null = null;
    let lastSay = 0;
    for (;;) {
      checkInterrupted();
      if (!b.running) b.start();
      const ingestLag = await groupLag(kafka, ingestGroup, s.cdcTopic).catch(() => -1n);
      const ends = await highWatermarks(kafka, s.logTopic);
      const stored = await storedOffsets(stateClient, s.logTopic);
      let projectLag = 0n;
      for (const [p, h] of ends) projectLag += h - (stored.get(p) ?? 0n) > 0n ? h - (stored.get(p) ?? 0n) : 0n;
      if (ingestLag === 0n && projectLag === 0n) {
        cmp = await compareIndependently(legacySpec, targetSpec);
        if (cmp.equal) {
          summary.caughtUp = true;
          break;
        }
      }
      if (Date.now() - tSettle > o.settleSeconds * 1000) {
        cmp = await compareIndependently(legacySpec, targetSpec);
        say(`did not catch up in ${o.settleSeconds} s: ingest lag ${ingestLag}, projection lag ${projectLag}`);
        break;
      }
      if (Date.now() - lastSay > 10_000) {
        lastSay = Date.now();
        say(`catching up: ingest lag ${ingestLag}, projection lag ${projectLag}${cmp ? `; ${describeComparison(cmp, 0)}` : ''}`);
      }
      await sleep(1000);
    }
    summary.compare = cmp;
    say(`caught up: ${summary.caughtUp} after ${secs(tSettle)}`);

    // 6. Ids of bindings the registrar did not touch during the run.
    const moved = idsMovedForUnchanged(
      fingerprintsBefore,
      await legacyFingerprints(legacySpec, { now: cmp.now }),
      idsBefore,
      await targetIdsByBinding(targetSpec),
    );
    summary.unchanged = {
      bindings: moved.unchanged,
      idsChanged: moved.moved.length,
      examples: moved.moved.slice(0, 5).map((m) => `${m.key}: ${m.before.join(',')} -> ${m.after.join(',') || '(gone)'}`),
    };

    // 7. Dead letters against the books.
    summary.hostile = f.books;
    const letters = await tallyDeadLetters(kafka, s.deadLetterTopic, s.cdcTopic);
    summary.letters = letters;
    for (const [off, reason] of f.books.expectedLetters) {
      const got = letters.ingestByOffset.get(off);
      if (!got) summary.lettersMissing.push(`${off} (${reason})`);
      else if (!got.has(reason) || got.size > 1) summary.lettersWrongReason.push(`${off}: expected ${reason}, got ${[...got].join(',')}`);
    }
    for (const off of letters.ingestByOffset.keys()) if (!f.books.expectedLetters.has(off)) summary.lettersUnexpected.push(off);

    // 8. The product's own verdicts, with the bridge still running.
    const diff = cli([
      'diff',
      '--source',
      s.legacy.url,
      '--source-release',
      '2.1',
      '--target',
      targetUrl,
      '--target-release',
      TARGET.release,
      '--hash-size',
      String(TARGET.hashSize),
      '--now',
      String(cmp.now),
    ]);
    summary.diff = {
      code: diff.code,
      verdict: (diff.stdout.split('\n').find((l) => l.startsWith('result:')) ?? diff.stderr.trim()).trim(),
    };
    const verdict = (r: ReturnType<typeof cli>): string[] => {
      const lines = r.stdout.split('\n').filter((l) => l.startsWith('ulbridge status:') || l.startsWith('  - '));
      return lines.length ? lines : [r.stderr.trim()];
    };
    const st = cli(['status', '--config', configFile]);
    summary.status = { code: st.code, verdict: verdict(st) };
    const st2 = cli(['status', '--config', configFile, '--dead-letters-since', String(Math.floor(Date.now() / 1000))]);
    summary.statusSinceEnd = { code: st2.code, verdict: verdict(st2) };

    // 9. Drain with SIGTERM; then the logs.
    summary.drain = await b.terminate();
  } finally {
    if (bridge) {
      await bridge.kill9();
      summary.kills = bridge.kills;
      summary.starts = bridge.starts;
      summary.crashes = bridge.crashes;
    }
    await feed?.disconnect().catch(() => undefined);
    await stateClient?.end().catch(() => undefined);
    const scan = existsSync(logDir) ? scanLogs(logDir) : null;
    if (scan) {
      summary.fatalLines = scan.fatal;
      summary.errorLines = scan.errors;
      summary.nonJsonLines = scan.nonJson;
    }
    summary.elapsedSeconds = Math.round((Date.now() - t0) / 1000);
    if (scenario) {
      await scenario.cleanup();
      if (!o.keep) {
        const admin = kafka.admin();
        await admin.connect().catch(() => undefined);
        await admin.deleteTopics({ topics: [scenario.cdcTopic, scenario.logTopic, scenario.deadLetterTopic] }).catch(() => undefined);
        await admin.disconnect().catch(() => undefined);
        for (const db of [scenario.legacy, ...scenario.targets]) await db.drop().catch(() => undefined);
      } else {
        say(
          `kept: legacy ${scenario.legacy.url}, target ${scenario.targets[0]!.url}, topics ${scenario.cdcTopic} ${scenario.logTopic} ${scenario.deadLetterTopic}`,
        );
      }
    }
    await svc.stop();
  }
  return report(summary, logDir);
}

function report(s: Summary, logDir: string): number {
  const c = s.compare;
  const lost = c ? c.missing.length : NaN;
  const changed = c ? c.changed.length : NaN;
  const extra = c ? c.extra.length : NaN;
  const duplicated = c ? c.target.duplicates : NaN;
  const h = s.hostile;
  const out: string[] = [];
  const row = (k: string, v: string | number): void => void out.push(`  ${k.padEnd(34)} ${v}`);
  out.push('', 'ulbridge soak summary');
  row(
    'kill -9 cycles',
    `${s.cycles} of ${s.options.cycles} (${s.starts} starts of ulbridge run, ${s.stalls} cycles without ${s.options.batches} batches in 120 s)`,
  );
  row('elapsed', `${s.elapsedSeconds} s`);
  row(
    'registrar changes',
    `${s.churn.changes} (refreshes ${s.churn.refreshes}, new contacts ${s.churn.newContacts}, new AORs ${s.churn.newAors}, de-registrations ${s.churn.deregistrations})`,
  );
  row('caught up at the end', s.caughtUp ? 'yes' : 'NO');
  if (c)
    row(
      'live bindings legacy / target',
      `${c.legacy.live} / ${c.target.live} (rows ${c.legacy.rows} / ${c.target.rows}, expired ${c.legacy.expired} / ${c.target.expired})`,
    );
  row('bindings lost', lost);
  row('bindings duplicated', duplicated);
  row('bindings changed (stale fields)', changed);
  row('bindings extra in the target', extra);
  row('unchanged bindings', s.unchanged.bindings);
  row('  whose contact id changed', s.unchanged.idsChanged);
  if (h) {
    row('hostile records sent', `${h.sent} (${[...h.byKind].map(([k, n]) => `${k} ${n}`).join(', ')})`);
    row('  refused by the decoder (expected)', h.expectedLetters.size);
    row(
      '  decoded (upserts + compensating deletes)',
      `${h.acceptedUpserts} upserts, ${h.acceptedDeletes} deletes, ${h.tombstones} tombstones; ${h.discarded} unsafe ones not sent`,
    );
  }
  if (s.letters) {
    row(
      'dead letters read',
      `${s.letters.total} (${s.letters.distinct} distinct; ${s.letters.total - s.letters.distinct} repeated after kills; ${s.letters.malformed} malformed)`,
    );
    for (const [stage, m] of [...s.letters.byStageReason].sort()) {
      for (const [reason, n] of [...m].sort((a, b) => b[1] - a[1])) row(`  ${stage} ${reason}`, n);
    }
    row(
      'expected dead letters missing',
      s.lettersMissing.length + (s.lettersMissing.length ? ` e.g. ${s.lettersMissing.slice(0, 5).join('; ')}` : ''),
    );
    row(
      'dead letters of real traffic',
      s.lettersUnexpected.length + (s.lettersUnexpected.length ? ` e.g. offsets ${s.lettersUnexpected.slice(0, 5).join(', ')}` : ''),
    );
    row(
      'dead letters with another reason',
      s.lettersWrongReason.length + (s.lettersWrongReason.length ? ` e.g. ${s.lettersWrongReason.slice(0, 5).join('; ')}` : ''),
    );
  }
  row(
    'crashes (exits other than the kills)',
    s.crashes.length +
      (s.crashes.length
        ? `: ${s.crashes.map((x) => `start #${x.start} cycle ${x.cycle} code ${x.code} signal ${x.signal}`).join('; ')}`
        : ''),
  );
  row('fatal log lines', s.fatalLines.length);
  row(
    'error log lines',
    [...s.errorLines.values()].reduce((a, n) => a + n, 0),
  );
  for (const [msg, n] of [...s.errorLines].sort((a, b) => b[1] - a[1]).slice(0, 8)) row(`  ${n} x`, msg);
  row('non-JSON output lines', s.nonJsonLines.length);
  row(
    'SIGTERM drain at the end',
    s.drain ? `exit ${s.drain.code ?? s.drain.signal} in ${(s.drain.ms / 1000).toFixed(1)} s` : 'not reached',
  );
  row('ulbridge diff', `exit ${s.diff.code}: ${s.diff.verdict}`);
  row('ulbridge status', `exit ${s.status.code}: ${s.status.verdict.join('\n' + ' '.repeat(37))}`);
  row('ulbridge status (letters since end)', `exit ${s.statusSinceEnd.code}: ${s.statusSinceEnd.verdict.join('\n' + ' '.repeat(37))}`);
  row('bridge logs', logDir);
  if (c && !c.equal) out.push(`  difference: ${describeComparison(c, 5).replace(/\n/g, '\n  ')}`);
  for (const e of s.unchanged.examples) out.push(`  id changed: ${e}`);
  for (const l of s.fatalLines.slice(0, 5)) out.push(`  fatal: ${l}`);
  for (const l of s.nonJsonLines.slice(0, 5)) out.push(`  non-JSON: ${l}`);
  const failures: string[] = [];
  if (!c) failures.push('no final comparison');
  if (lost > 0) failures.push(`${lost} lost`);
  if (duplicated > 0) failures.push(`${duplicated} duplicated`);
  if (changed > 0) failures.push(`${changed} changed`);
  if (extra > 0) failures.push(`${extra} extra`);
  if (s.unchanged.idsChanged > 0) failures.push(`${s.unchanged.idsChanged} ids changed`);
  if (s.crashes.length > 0) failures.push(`${s.crashes.length} crashes`);
  if (s.fatalLines.length > 0) failures.push(`${s.fatalLines.length} fatal log lines`);
  if (s.lettersMissing.length > 0) failures.push(`${s.lettersMissing.length} dead letters missing`);
  if (s.lettersUnexpected.length > 0) failures.push(`${s.lettersUnexpected.length} real events dead-lettered`);
  if (s.lettersWrongReason.length > 0) failures.push(`${s.lettersWrongReason.length} dead letters with another reason`);
  if (!s.caughtUp) failures.push('did not catch up');
  if (s.diff.code !== 0) failures.push(`ulbridge diff exit ${s.diff.code}`);
  if (s.cycles < s.options.cycles) failures.push(`${s.cycles} of ${s.options.cycles} cycles`);
  out.push(`  result: ${failures.length === 0 ? 'PASS' : `FAIL (${failures.join(', ')})`}`, '');
  process.stdout.write(out.join('\n'));
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    say(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(2);
  },
);
