import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyConnectors } from '../../src/connect/connect.js';
import { configCaptures } from '../../src/connect/fromConfig.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { deleteConnector } from '../../src/stack/connectors.js';
import { freePort } from '../support/net.js';
import { connectUrl, freshPostgresDb, kafkaBrokers, type FreshDb } from '../support/services.js';

// The Grafana dashboard and the Prometheus alerting rules in ops/monitoring/ against a real
// `ulbridge run` (bin/ulbridge.js, so `npm run build` first): every metric name their expressions
// use is exported; with Prometheus installed (Debian's `prometheus` package), promtool accepts the
// rules and a real Prometheus scrapes the bridge, evaluates every rule without error (no alert
// pending or firing on a healthy bridge) and runs every dashboard query.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = join(ROOT, 'ops/monitoring/ulbridge-dashboard.json');
const RULES = join(ROOT, 'ops/monitoring/ulbridge-alerts.yml');
const tag = `mon${process.pid}`;

/** Every PromQL expression of the dashboard (panels and template variables). */
function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ query: { query: string } }> };
  };
  return [...d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...d.templating.list.map((v) => v.query.query)];
}

/** Every `expr:` of the rules file (one-line or `|` block). */
function ruleExprs(): string[] {
  const lines = readFileSync(RULES, 'utf8').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2] !== '|') {
      out.push(m[2]!);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > m[1]!.length))
      block.push(lines[++i]!.trim());
    out.push(block.join(' ').trim());
  }
  return out;
}

/** Metric names an expression selects: identifiers outside label matchers that are not PromQL words. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/"[^"]*"/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const words = bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return words.filter((w) => w.startsWith('ulbridge_') || w === 'up');
}

/** Names /metrics exports: every sample, and a histogram's _bucket/_sum/_count from its TYPE. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      names.add(t[1]!);
      if (t[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${t[1]}${s}`);
      continue;
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (s) names.add(s[1]!);
  }
  return names;
}

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let err: unknown;
  do {
    try {
      last = await get();
      if (ok(last)) return last;
    } catch (e) {
      err = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)} ${err ? String(err) : ''}`);
}

const getText = async (url: string): Promise<string> => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.text();
};

let legacy: FreshDb;
let target: FreshDb;
let cfg: Config;
let bridge: ChildProcess | null = null;
let bridgeStderr = '';
let httpPort = 0;
let prometheus: ChildProcess | null = null;

async function stop(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

before(async () => {
  legacy = await freshPostgresDb(`${tag}_legacy`);
  target = await freshPostgresDb(`${tag}_target`);
  await createLocationTable(legacy.url, '2.1');
  await createLocationTable(target.url, '4.0');
  const c = new pg.Client({ connectionString: legacy.url });
  await c.connect();
  for (let i = 0; i < 20; i++) {
    await c.query(
      `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES ($1, 'example.com', $2, now() + interval '1 hour', $3, 1, now(), 'test')`,
      [`user${i}`, `sip:user${i}@10.0.0.1`, `call-${i}`],
    );
  }
  await c.end();
  httpPort = await freePort();
  const raw = {
    kafka: { brokers: kafkaBrokers() },
    connect: { url: connectUrl() },
    log: { topic: `${tag}.registrations`, partitions: 2, deadLetterTopic: `${tag}.dead-letters` },
    sources: [{ name: 'legacy', release: '2.1', capture: { db: legacy.url, connector: `${tag}-legacy` } }],
    targets: [{ name: 'main', db: target.url, release: '4.0', hashSize: 9 }],
    http: { host: '127.0.0.1', port: httpPort },
  };
  cfg = parseConfig(raw, {});
  await applyConnectors(cfg, connectUrl());
  const file = join(mkdtempSync(join(tmpdir(), 'ulbridge-monitoring-')), 'bridge.json');
  writeFileSync(file, JSON.stringify(raw));
  bridge = spawn(process.execPath, [join(ROOT, 'bin/ulbridge.js'), 'run', '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ULBRIDGE_LOG_LEVEL: 'warn' },
  });
  bridge.stderr!.on('data', (d: Buffer) => (bridgeStderr += d.toString()));
  // Ready, and both stages have processed the 20 rows.
  await waitFor(
    'bridge ready',
    () => fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status),
    (s) => s === 200,
    90_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nbridge stderr: ${bridgeStderr}`);
  });
  await waitFor(
    '20 events applied',
    () => getText(`http://127.0.0.1:${httpPort}/metrics`),
    (t) => /^ulbridge_events_out_total\{stage="project",pipeline="main",outcome="applied"\} 20$/m.test(t),
    90_000,
  );
});

after(async () => {
  await stop(prometheus);
  await stop(bridge);
  for (const c of cfg ? configCaptures(cfg) : []) {
    await deleteConnector(connectUrl(), c.spec.name, { cleanup: { ...c.spec, url: c.capture.db } }).catch(() => undefined);
  }
  for (const db of [legacy, target]) await db?.drop().catch(() => undefined);
});

test('every metric name in the dashboard and the alerting rules is exported by ulbridge run', async () => {
  const text = await getText(`http://127.0.0.1:${httpPort}/metrics`);
  const exported = exportedNames(text);
  // The capture stage, checked by the bridge itself against the real connector.
  const labels = `stage="source",pipeline="legacy",connector="${cfg.sources[0]!.capture!.connector}"`;
  assert.match(text, new RegExp(`^ulbridge_capture_running\\{${labels}\\} 1$`, 'm'));
  assert.match(text, new RegExp(`^ulbridge_capture_lag_bytes\\{${labels}\\} \\d+$`, 'm'));
  const used = new Set([...dashboardExprs(), ...ruleExprs()].flatMap(metricNames));
  assert.deepEqual([...used].sort(), [
    'ulbridge_apply_latency_seconds_bucket',
    'ulbridge_batch_seconds_bucket',
    'ulbridge_capture_behind_seconds',
    'ulbridge_capture_lag_bytes',
    'ulbridge_capture_last_check_timestamp_seconds',
    'ulbridge_capture_running',
    'ulbridge_consumer_lag',
    'ulbridge_dead_letters_total',
    'ulbridge_events_in_total',
    'ulbridge_events_out_total',
    'ulbridge_last_event_timestamp_seconds',
    'ulbridge_nodejs_eventloop_lag_p99_seconds',
    'ulbridge_process_resident_memory_bytes',
    'ulbridge_process_start_time_seconds',
    'up',
  ]);
  // `up` is Prometheus's own series for every scrape target.
  const missing = [...used].filter((n) => n !== 'up' && !exported.has(n));
  assert.deepEqual(missing, []);
  assert.equal(ruleExprs().length, 12);
  assert.equal(dashboardExprs().length, 18);
});

const promtool = spawnSync('promtool', ['--version']).status === 0;
const promBinary = spawnSync('prometheus', ['--version']).status === 0;
const noProm = 'Prometheus is not installed (Debian: apt-get install -y prometheus): promtool and the rule evaluation are skipped';

test('promtool check rules accepts the alerting rules', { skip: promtool ? false : noProm }, () => {
  const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 12 rules found/);
});

test(
  'a real Prometheus scrapes ulbridge run, evaluates every rule without error and runs every dashboard query',
  { skip: promBinary ? false : noProm },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ulbridge-prometheus-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${RULES}`,
        'scrape_configs:',
        '  - job_name: ulbridge',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${httpPort}']`,
        '',
      ].join('\n'),
    );
    let log = '';
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    prometheus.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const api = `http://127.0.0.1:${port}/api/v1`;
    const query = async (
      q: string,
    ): Promise<{ status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }; error?: string }> =>
      (await fetch(`${api}/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) })).json() as never;
    await waitFor(
      'prometheus ready',
      () => fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.status),
      (s) => s === 200,
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nprometheus log: ${log}`);
    });
    // Scraped, and the lag of both stages is in Prometheus.
    await waitFor(
      'ulbridge scraped',
      () => query('up{job="ulbridge"}'),
      (r) => r.data.result.length === 1 && r.data.result[0]!.value[1] === '1',
    );
    await waitFor(
      'lag series',
      () => query('ulbridge_consumer_lag'),
      (r) => r.data.result.length > 0,
    );
    type Rules = {
      data: {
        groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string; state?: string }> }>;
      };
    };
    const rules = await waitFor(
      'every rule evaluated',
      async () => ((await (await fetch(`${api}/rules`)).json()) as Rules).data.groups.flatMap((g) => g.rules),
      (rs) => rs.length === 12 && rs.every((r) => !r.lastEvaluation.startsWith('0001-')),
    );
    assert.deepEqual(
      rules.map((r) => [r.name, r.health, r.lastError ?? '', r.state]),
      [
        'UlbridgeDown',
        'UlbridgeRestarting',
        'UlbridgeConsumerLagHigh',
        'UlbridgeConsumerLagStuck',
        'UlbridgeApplyLatencyHigh',
        'UlbridgeDeadLetters',
        'UlbridgeNoRecentEvents',
        'UlbridgeEventLoopBlocked',
        'UlbridgeMemoryHigh',
        'UlbridgeCaptureNotRunning',
        'UlbridgeCaptureBehind',
        'UlbridgeCaptureCheckStale',
      ].map((n) => [n, 'ok', '', 'inactive']),
    );
    const alerts = (await (await fetch(`${api}/alerts`)).json()) as { data: { alerts: unknown[] } };
    assert.deepEqual(alerts.data.alerts, [], 'a healthy bridge fires nothing');
    // Every dashboard query runs (Grafana's variables as an operator would pick them).
    for (const expr of dashboardExprs()) {
      if (expr.startsWith('label_values(')) {
        const inner = /^label_values\((.*), (\w+)\)$/.exec(expr)!;
        const r = await query(inner[1]!.replace(/\$job/g, 'ulbridge'));
        assert.equal(r.status, 'success', `${expr}: ${r.error}`);
        assert.ok(
          r.data.result.some((x) => x.metric[inner[2]!] !== undefined),
          `${expr}: no ${inner[2]} values`,
        );
        continue;
      }
      const q = expr
        .replace(/\$__rate_interval/g, '1m')
        .replace(/\$job/g, 'ulbridge')
        .replace(/\$pipeline/g, '.*');
      const r = await query(q);
      assert.equal(r.status, 'success', `${q}: ${r.error}`);
    }
    const lag = await query(
      dashboardExprs()
        .find((e) => e.startsWith('sum by (stage, pipeline) (ulbridge_consumer_lag'))!
        .replace(/\$job/g, 'ulbridge')
        .replace(/\$pipeline/g, '.*'),
    );
    assert.deepEqual(lag.data.result.map((x) => [x.metric.stage, x.metric.pipeline, x.value[1]]).sort(), [
      ['ingest', 'legacy', '0'],
      ['project', 'main', '0'],
    ]);
    const capture = await query('ulbridge_capture_running{job="ulbridge"}');
    assert.deepEqual(
      capture.data.result.map((x) => [x.metric.stage, x.metric.pipeline, x.metric.connector, x.value[1]]),
      [['source', 'legacy', cfg.sources[0]!.capture!.connector, '1']],
    );
  },
);
