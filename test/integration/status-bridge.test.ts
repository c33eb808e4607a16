import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { silentLogger } from '../../src/ops/logger.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { runStatus } from '../../src/service/status.js';
import type { StatusReport } from '../../src/service/statusVerdict.js';
import { readTopic } from '../support/kafka.js';
import { cli } from '../support/cli.js';
import { freshPostgresDb, kafkaBrokers } from '../support/services.js';
import { bridgeConfig, legacyScenario, waitForEqual, type Scenario } from '../e2e/harness.js';

// `ulbridge status` against a running bridge (real Debezium connector on a 2.1 table, one 4.0
// target): lag 0 on every stage after catching up and the verdict ready; a poison change event
// makes one dead letter and the verdict not ready for exactly that reason, until it is reviewed.

let s: Scenario;
let bridge: Bridge | null = null;
let cfg: Config;

before(async () => {
  s = await legacyScenario('status_bridge', { rows: 300, aors: 250, seed: 5, targets: [{ release: '4.0' }] });
  cfg = bridgeConfig(s, [{ name: 'main', db: s.targets[0]!.url, release: '4.0', hashSize: 9 }]);
});

after(async () => {
  await bridge?.stop();
  await s?.cleanup();
});

async function waitForStatus(
  c: Config,
  until: (r: StatusReport) => boolean,
  sinceMs: number | null = null,
  timeoutMs = 60_000,
): Promise<StatusReport> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusReport;
  do {
    last = await runStatus({ config: c, deadLettersSinceMs: sinceMs });
    if (until(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  } while (Date.now() < deadline);
  throw new Error(`status did not settle: ${JSON.stringify(last.reasons)}`);
}

function configFile(c: Config): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ulbridge-status-')), 'config.json');
  writeFileSync(file, JSON.stringify(c));
  return file;
}

test('after catching up: lag 0 on every partition of both stages, no dead letters, verify clean: ready', async () => {
  bridge = await startBridge(cfg, silentLogger, { http: false });
  await waitForEqual(s, s.targets[0]!.url, '4.0');
  const r = await waitForStatus(cfg, (x) => x.ready);
  assert.deepEqual(r.reasons, []);
  assert.equal(r.ingest.length, 1);
  assert.equal(r.ingest[0]!.topic, s.cdcTopic);
  assert.ok(r.ingest[0]!.partitions.length >= 1);
  for (const p of r.ingest[0]!.partitions) {
    assert.equal(p.lag, 0);
    assert.equal(p.committed, p.high, 'the ingest group committed up to the high watermark');
  }
  assert.equal(Number(r.ingest[0]!.partitions.reduce((n, p) => n + BigInt(p.high), 0n)), 300, 'one snapshot event per row');
  const t = r.project[0]!;
  assert.equal(t.started, true);
  assert.equal(t.partitions.length, 4);
  for (const p of t.partitions) assert.equal(p.next ?? p.low, p.high);
  assert.equal(t.lag, 0);
  assert.equal(t.verify.clean, true);
  assert.equal(t.verify.rowsRead, 300);
  assert.ok(t.lastAppliedAt !== null && t.lastAppliedAgeSeconds !== null && t.lastAppliedAgeSeconds < 300);
  assert.deepEqual(r.deadLetters, { topic: s.deadLetterTopic, total: 0, since: null, counted: 0 });

  // A target in the config whose projection never ran.
  const spare = await freshPostgresDb('status_spare');
  await createLocationTable(spare.url, '4.0');
  const withSpare = parseConfig({ ...cfg, targets: [...cfg.targets, { name: 'spare', db: spare.url, release: '4.0', hashSize: 9 }] }, {});
  const r2 = await runStatus({ config: withSpare, deadLettersSinceMs: null });
  assert.equal(r2.ready, false);
  assert.deepEqual(
    r2.reasons.map((x) => x.code),
    ['PROJECT_NOT_STARTED'],
  );
  assert.equal(r2.project[1]!.started, false);
  assert.equal(
    r2.project[1]!.lag,
    r2.project[0]!.partitions.reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0),
  );
  await spare.drop();
});

test('a poison change event: 1 dead letter, verdict not ready for that reason; reviewed (--dead-letters-since) it is ready again', async () => {
  const [first] = await readTopic(kafkaBrokers(), s.cdcTopic, 1, { settleMs: 0 });
  const poison = JSON.parse(first!.value!);
  poison.after.id = 990001; // the bare envelope: ulbridge's connectors write values without schemas
  delete poison.after.callid;
  const producer = new Kafka({ clientId: 'status-poison', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({ topic: s.cdcTopic, messages: [{ key: '{"id":990001}', value: JSON.stringify(poison) }] });
  await producer.disconnect();

  const r = await waitForStatus(cfg, (x) => x.deadLetters.total === 1 && x.ingest[0]!.lag === 0);
  assert.equal(r.ready, false);
  assert.deepEqual(
    r.reasons.map((x) => x.code),
    ['DEAD_LETTERS'],
  );
  assert.match(r.reasons[0]!.message, new RegExp(`^1 dead letter in ${s.deadLetterTopic.replace(/\./g, '\\.')}: review them`));
  assert.deepEqual(r.deadLetters, { topic: s.deadLetterTopic, total: 1, since: null, counted: 1 });

  // The CLI: exit 1, one JSON document naming the reason.
  const file = configFile(cfg);
  const run = await cli(['status', '--config', file, '--json']);
  assert.equal(run.code, 1, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.equal(doc.ready, false);
  assert.deepEqual(
    doc.reasons.map((x: { code: string }) => x.code),
    ['DEAD_LETTERS'],
  );
  assert.equal(doc.deadLetters.counted, 1);
  assert.equal(typeof doc.project[0].partitions[0].high, 'string', 'offsets are decimal strings');

  // Reviewed: only letters written after the review count.
  await new Promise((res) => setTimeout(res, 1100));
  const reviewed = Math.floor(Date.now() / 1000);
  const again = await cli(['status', '--config', file, '--dead-letters-since', String(reviewed)]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /^ulbridge status: READY for cut-over/);
  assert.match(again.stdout, new RegExp(`dead letters: 1 in ${s.deadLetterTopic.replace(/\./g, '\\.')}, 0 since `));
});

test('Kafka unreachable: exit 2, one line', async () => {
  const file = configFile(parseConfig({ ...cfg, kafka: { brokers: ['127.0.0.1:1'] } }, {}));
  const run = await cli(['status', '--config', file]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^ulbridge: KAFKA_UNREACHABLE: cannot query Kafka at 127\.0\.0\.1:1 \(is it up\? check kafka\.brokers\): .*\n$/);
});
