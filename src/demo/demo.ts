import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { applyConnectors } from '../connect/connect.js';
import { startStack, writeState, type Stack } from '../stack/index.js';
import { openDb } from '../db/open.js';
import { parseConfig } from '../ops/config.js';
import type { Logger } from '../ops/logger.js';
import { startBridge, type Bridge } from '../service/bridge.js';
import { runVerify } from '../verify/verify.js';
import type { VerifyReport } from '../verify/report.js';
import { diffBindingSets, readBindingSet, type BindingDiff } from '../verify/bindingSet.js';
import { LegacyTableWriter, type ChurnCounts } from './legacyTable.js';
import { Workload } from './workload.js';
import { countRows, createDatabase, createLocationTable } from './tables.js';

export interface DemoOptions {
  rows: number;
  churnSeconds: number;
  churnRate: number;
  targetRelease: string;
  hashSize: number;
  keep: boolean;
  seed: number;
  /** With keep: where the bridge config the demo ran is written (for `ulbridge run|status|connect status --config`). */
  configFile?: string;
  /** Progress lines (stderr). */
  progress: (line: string) => void;
  logger: Logger;
}

export interface DemoReport {
  source: { release: string; table: string; url: string; rowsSeeded: number; churn: ChurnCounts; rows: number };
  target: { release: string; table: string; url: string; hashSize: number; rows: number };
  /** caughtUpMs: after churn stopped; convergedMs: after the connector started (snapshot included). */
  bridge: { caughtUpMs: number; convergedMs: number; comparison: BindingDiff; deadLetters: number };
  verify: VerifyReport;
  stack: { dir: string; kept: boolean; kafka: string[]; connect: string } | null;
  /** The bridge config the demo ran (written with keep), or null. */
  configFile: string | null;
  ok: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The demo gives up on the target when its row count has not moved for this long. */
export const DEMO_STALL_MS = 120_000;

/**
 * The README's main job on the embedded default: a native stack, a 2.1 table with realistic
 * registrations and live churn, the bridge into a 2.2+ table, and a verification report.
 */
export async function runDemo(o: DemoOptions): Promise<DemoReport> {
  const say = o.progress;
  const t0 = Date.now();
  say('starting the local stack (PostgreSQL, Kafka, Kafka Connect + Debezium)…');
  const stack: Stack = await startStack({ services: ['postgres', 'kafka', 'connect'], detached: o.keep, log: (l: string) => say(l) });
  if (o.keep) writeState(stack.state);
  let bridge: Bridge | null = null;
  let legacyClient: pg.Client | null = null;
  try {
    say(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const adminUrl = stack.postgres!.url;
    const legacyUrl = await createDatabase(adminUrl, 'legacy_registrar');
    const targetUrl = await createDatabase(adminUrl, 'new_registrar');
    await createLocationTable(legacyUrl, '2.1');
    await createLocationTable(targetUrl, o.targetRelease);

    legacyClient = new pg.Client({ connectionString: legacyUrl });
    await legacyClient.connect();
    const workload = new Workload(o.seed);
    const aors = Math.round(o.rows * 0.7);
    const writer = new LegacyTableWriter(legacyClient, 'location', workload, 'UTC', aors);
    say(`seeding ${o.rows.toLocaleString('en')} registrations of ${aors.toLocaleString('en')} AORs into the 2.1 table…`);
    await writer.seed(o.rows, aors);

    // The bridge config, with the legacy table's connector as its capture: `ulbridge connect`
    // derives the connector from it, as an operator's `connect apply` would.
    const raw = {
      kafka: { brokers: stack.kafka!.brokers },
      connect: { url: stack.connect!.url },
      log: { topic: 'ulbridge.registrations', partitions: 6, deadLetterTopic: 'ulbridge.dead-letters' },
      sources: [
        { name: 'legacy', release: '2.1', timeZone: 'UTC', capture: { db: legacyUrl, table: 'public.location', connector: 'legacy' } },
      ],
      targets: [{ name: 'main', db: targetUrl, table: 'location', release: o.targetRelease, hashSize: o.hashSize }],
    };
    let configFile: string | null = null;
    if (o.keep && o.configFile) {
      writeFileSync(o.configFile, `${JSON.stringify(raw, null, 2)}\n`);
      configFile = o.configFile;
    }
    const cfg = parseConfig({ ...raw, http: { port: 0 } }, {});
    say('creating the Debezium connector for the 2.1 table (ulbridge connect apply)…');
    const connectorStart = Date.now();
    await applyConnectors(cfg, stack.connect!.url);
    bridge = await startBridge(cfg, o.logger);
    say(`bridge running (metrics at ${bridge.httpUrl}/metrics)`);

    const churnEnd = Date.now() + o.churnSeconds * 1000;
    let lastReport = 0;
    while (Date.now() < churnEnd) {
      const tickStart = Date.now();
      for (let i = 0; i < o.churnRate / 10; i++) await writer.churnOnce();
      if (Date.now() - lastReport >= 2000) {
        lastReport = Date.now();
        const c = writer.counts;
        say(
          `churn ${Math.ceil((churnEnd - Date.now()) / 1000)} s left: ${c.refreshes} refreshes, ${c.newContacts} new contacts, ${c.newAors} new AORs, ${c.deregistrations} de-registrations; target rows ${await countRows(targetUrl, 'location')}`,
        );
      }
      await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
    }

    say('churn done; waiting for the target to catch up…');
    const source = await openDb(legacyUrl);
    const target = await openDb(targetUrl);
    const catchUpStart = Date.now();
    let converged: Convergence;
    try {
      // Both sets are read when a comparison is due, with the time of that comparison: bindings
      // that expire while the target fills (a 1M-row demo runs longer than the shortest expiry)
      // have no target row, and must count as expired on both sides. Reading them only then also
      // keeps 1M bindings from being read while the bridge in this process catches up (that
      // starved its consumers' heartbeats: the projection was evicted from its group).
      const read = (db: typeof source, release: string, caseSensitive: boolean, at: number) =>
        readBindingSet(db, { table: 'location', release, timeZone: 'UTC', caseSensitive, now: at });
      converged = await waitForConvergence({
        count: () => countRows(targetUrl, 'location'),
        compare: async () => {
          const at = Math.floor(Date.now() / 1000) + 1;
          const targetSet = await read(target, o.targetRelease, true, at); // first: see ConvergenceWait.compare
          return diffBindingSets(await read(source, '2.1', false, at), targetSet);
        },
        sourceRows: await countRows(legacyUrl, 'location'),
        say: (line) => say(`${line}, ${((Date.now() - connectorStart) / 1000).toFixed(0)} s since the connector started`),
      });
    } finally {
      await source.close();
      await target.close();
    }
    const comparison = converged.diff;
    const caughtUpMs = converged.at - catchUpStart;
    const convergedMs = converged.at - connectorStart;
    say(
      `target ${comparison.equal ? 'equals' : 'DIFFERS FROM'} the source (${comparison.target.live} live bindings) ${(caughtUpMs / 1000).toFixed(1)} s after churn stopped, ${(convergedMs / 1000).toFixed(1)} s after the connector started`,
    );

    say(`verifying the target as OpenSIPS ${o.targetRelease} with hash_size ${o.hashSize} would preload it…`);
    const verify = await runVerify({
      db: targetUrl,
      table: 'location',
      release: o.targetRelease,
      hashSize: o.hashSize,
      useDomain: false,
      signedness: 'signed',
      timezone: 'UTC',
      now: Math.floor(Date.now() / 1000),
      details: 3,
      batchSize: 5000,
    });
    const dead = await bridge.metrics.deadLetters.get();
    const deadLetters = dead.values.reduce((n, v) => n + v.value, 0);
    const report: DemoReport = {
      source: {
        release: '2.1',
        table: 'location',
        url: legacyUrl,
        rowsSeeded: o.rows,
        churn: { ...writer.counts },
        rows: comparison.source.rows,
      },
      target: { release: o.targetRelease, table: 'location', url: targetUrl, hashSize: o.hashSize, rows: verify.rowsRead },
      bridge: { caughtUpMs, convergedMs, comparison, deadLetters },
      verify,
      stack: o.keep ? { dir: stack.dir, kept: true, kafka: stack.kafka!.brokers, connect: stack.connect!.url } : null,
      configFile,
      ok: comparison.equal && verify.clean && deadLetters === 0,
    };
    return report;
  } finally {
    await legacyClient?.end().catch(() => undefined);
    if (bridge) await bridge.stop();
    if (!o.keep) await stack.stop();
  }
}

export interface ConvergenceWait {
  /** Target row count (cheap). */
  count(): Promise<number>;
  /**
   * The full comparison of both binding sets (expensive: seconds at 200,000 rows). It reads the
   * target first, in one statement, so the target it compares is the one of the moment it is
   * called: that moment is when an equal target was reached (Convergence.at).
   */
  compare(): Promise<BindingDiff>;
  /** Source rows: a target count equal to it is worth a full comparison. */
  sourceRows: number;
  say(line: string): void;
  /** Give up when the count has not moved for this long (default DEMO_STALL_MS). */
  stallMs?: number;
  /**
   * A full comparison also once the count has not moved for this long (default 10 s), for targets
   * that never reach sourceRows (expired bindings have no target row).
   */
  settleMs?: number;
  /** Progress line period (default 5 s). */
  sayEveryMs?: number;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface Convergence {
  /** The last comparison. */
  diff: BindingDiff;
  /** When that comparison was started (the time of the target it read). */
  at: number;
}

/**
 * Waits until the target equals the source. Cheap checks (a row count) while the target fills;
 * the full comparison of both binding sets (hundreds of MB at 1M rows, and CPU the bridge in the
 * same process needs) only when the count says they can be equal, or once the count has settled
 * (settleMs without a change). There is no fixed deadline (a 1M-row table takes minutes): it gives
 * up only when the target stops moving for stallMs, and says how far it got. Returns the last
 * comparison and when it started.
 */
export async function waitForConvergence(w: ConvergenceWait): Promise<Convergence> {
  const now = w.now ?? Date.now;
  const pause = w.sleep ?? sleep;
  const stallMs = w.stallMs ?? DEMO_STALL_MS;
  const settleMs = w.settleMs ?? 10_000;
  const sayEveryMs = w.sayEveryMs ?? 5000;
  let lastCount = -1;
  let lastMove = now();
  let comparedAtCount = -1;
  let lastSay = now();
  for (;;) {
    const count = await w.count();
    if (count !== lastCount) {
      lastCount = count;
      lastMove = now();
    }
    if (count !== comparedAtCount && (count === w.sourceRows || now() - lastMove >= settleMs)) {
      comparedAtCount = count;
      const at = now();
      const c = await w.compare();
      if (c.equal) return { diff: c, at };
    }
    if (now() - lastMove > stallMs) {
      const at = now();
      const c = await w.compare();
      if (!c.equal) {
        w.say(
          `target did not converge: its row count stayed at ${count.toLocaleString('en')} for ${Math.round(stallMs / 1000)} s; ${c.onlyInSource} bindings only in the source, ${c.onlyInTarget} only in the target`,
        );
      }
      return { diff: c, at };
    }
    if (now() - lastSay >= sayEveryMs) {
      lastSay = now();
      w.say(`target ${count.toLocaleString('en')} of ${w.sourceRows.toLocaleString('en')} rows`);
    }
    await pause(w.pollMs ?? 500);
  }
}
