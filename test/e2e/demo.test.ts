import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cli } from '../support/cli.js';

interface DemoJson {
  ok: boolean;
  source: { release: string; table: string; rowsSeeded: number; rows: number };
  target: { release: string; table: string; hashSize: number; rows: number };
  bridge: { comparison: { equal: boolean; onlyInSource: number; onlyInTarget: number }; deadLetters: number };
  verify: {
    clean: boolean;
    release: string;
    hashSize: number;
    rowsRead: number;
    loadable: number;
    findings: number;
    rejected: { total: number };
    duplicateContactIds: { ids: number };
    ambiguousRecordLabels: { labels: number };
  };
  stack: unknown;
  configFile: string | null;
}

// The README's main job (`npm run demo`), smaller: its own stack (PostgreSQL, Kafka, Kafka Connect
// + Debezium, beside the suite's), a 2.1 table with churn, the bridge into a 4.0 table, verify.
test(
  'the demo: stack, seeded 2.1 table with churn, bridge into 4.0, verify clean; progress lines on stderr, client logs in its log file',
  { timeout: 600_000 },
  async () => {
    const r = await cli(['demo', '--rows', '3000', '--churn-seconds', '5', '--churn-rate', '100', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as DemoJson;
    assert.equal(report.ok, true);
    assert.deepEqual(
      { release: report.source.release, table: report.source.table, rowsSeeded: report.source.rowsSeeded },
      { release: '2.1', table: 'location', rowsSeeded: 3000 },
    );
    assert.deepEqual(
      { release: report.target.release, table: report.target.table, hashSize: report.target.hashSize, rows: report.target.rows },
      { release: '4.0', table: 'location', hashSize: 9, rows: report.source.rows },
    );
    assert.deepEqual(
      {
        equal: report.bridge.comparison.equal,
        onlyInSource: report.bridge.comparison.onlyInSource,
        onlyInTarget: report.bridge.comparison.onlyInTarget,
      },
      { equal: true, onlyInSource: 0, onlyInTarget: 0 },
    );
    assert.equal(report.bridge.deadLetters, 0);
    assert.deepEqual(
      {
        clean: report.verify.clean,
        release: report.verify.release,
        hashSize: report.verify.hashSize,
        rowsRead: report.verify.rowsRead,
        loadable: report.verify.loadable,
        findings: report.verify.findings,
        rejected: report.verify.rejected.total,
        duplicateContactIds: report.verify.duplicateContactIds.ids,
        ambiguousRecordLabels: report.verify.ambiguousRecordLabels.labels,
      },
      {
        clean: true,
        release: '4.0',
        hashSize: 9,
        rowsRead: report.target.rows,
        loadable: report.target.rows,
        findings: 0,
        rejected: 0,
        duplicateContactIds: 0,
        ambiguousRecordLabels: 0,
      },
    );
    assert.equal(report.stack, null); // not kept: stopped and removed
    assert.equal(report.configFile, null);

    // Progress lines only (README); the clients' own logs, the ingest thread's among them, in the file it names first.
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(
      lines.filter((l) => !l.startsWith('ulbridge demo: ')),
      [],
    );
    const logFile = /^ulbridge demo: client logs: (\S+)$/.exec(lines[0]!)?.[1];
    assert.ok(logFile && existsSync(logFile), lines[0]);
    const logged = readFileSync(logFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { stage?: string; msg: string });
    assert.deepEqual(
      logged.filter((l) => l.stage === 'ingest' && (l.msg === 'ingest running' || l.msg === 'ingest stopped')).map((l) => l.msg),
      ['ingest running', 'ingest stopped'],
    );
  },
);
