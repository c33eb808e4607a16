import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { silentLogger } from '../../src/ops/logger.js';
import { readTopic } from '../support/kafka.js';
import { kafkaBrokers } from '../support/services.js';
import { bridgeConfig, churn, legacyScenario, waitForEqual, type Scenario } from './harness.js';

// Issue 4, e2e d: poison events in the CDC topic (malformed JSON, a missing field, a mistyped
// field, an oversized value, an unknown op) each land in the dead-letter topic with their reason
// and the raw event; everything else is applied.

let s: Scenario;
let bridge: Bridge | null = null;

before(async () => {
  s = await legacyScenario('e2e_poison', { rows: 500, aors: 400, seed: 3, targets: [{ release: '4.0' }] });
});

after(async () => {
  await bridge?.stop();
  await s?.cleanup();
});

test('poison events go to the dead-letter topic with their reason; the stream keeps moving', async () => {
  bridge = await startBridge(bridgeConfig(s, [{ name: 'main', db: s.targets[0]!.url, release: '4.0', hashSize: 9 }]), silentLogger, {
    http: false,
  });
  await waitForEqual(s, s.targets[0]!.url, '4.0');

  // A real change event of this connector, mutated.
  const [first] = await readTopic(kafkaBrokers(), s.cdcTopic, 1, { settleMs: 0 });
  const real = JSON.parse(first!.value!);
  const mutate = (id: number, fn: (p: any) => void): string => {
    const v = structuredClone(real);
    v.after.id = id; // the bare envelope: ulbridge's connectors write values without schemas
    fn(v);
    return JSON.stringify(v);
  };
  const poison = [
    { key: '{"id":900001}', value: '{"schema": {"type": "struct", "fields": [' },
    { key: '{"id":900002}', value: mutate(900002, (p) => delete p.after.callid) },
    { key: '{"id":900003}', value: mutate(900003, (p) => (p.after.cseq = 'thirteen')) },
    { key: '{"id":900004}', value: mutate(900004, (p) => (p.after.username = 'u'.repeat(65))) },
    { key: '{"id":900005}', value: mutate(900005, (p) => (p.op = 'x')) },
  ];
  const producer = new Kafka({ clientId: 'poison', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({ topic: s.cdcTopic, messages: poison });
  await producer.disconnect();

  await churn(s, 300); // good changes after the poison
  const final = await waitForEqual(s, s.targets[0]!.url, '4.0');
  assert.equal(final.target.rows, s.writer.rows.size);

  const letters = (await readTopic(kafkaBrokers(), s.deadLetterTopic, 5, { settleMs: 2000 })).map((r) => JSON.parse(r.value!));
  assert.deepEqual(
    letters.map((l) => l.reason),
    ['MALFORMED_JSON', 'MISSING_FIELD', 'WRONG_TYPE', 'OVERSIZED_VALUE', 'UNKNOWN_OP'],
  );
  assert.deepEqual(
    letters.map((l) => l.value),
    poison.map((p) => p.value),
    'each dead letter carries the raw event',
  );
  assert.deepEqual(
    letters.map((l) => l.key),
    poison.map((p) => p.key),
  );
  assert.ok(
    letters.every(
      (l) =>
        l.stage === 'ingest' &&
        l.pipeline === 'legacy' &&
        l.source.topic === s.cdcTopic &&
        l.source.partition === 0 &&
        /^\d+$/.test(l.source.offset),
    ),
  );
  assert.match(letters[1].message, /callid/);
  assert.match(letters[2].message, /cseq/);
  assert.match(letters[3].message, /username/);
  assert.match(letters[4].message, /"x"/);
  const m = await bridge.metrics.registry.getSingleMetricAsString('ulbridge_dead_letters_total');
  for (const reason of ['MALFORMED_JSON', 'MISSING_FIELD', 'WRONG_TYPE', 'OVERSIZED_VALUE', 'UNKNOWN_OP']) {
    assert.match(m, new RegExp(`ulbridge_dead_letters_total\\{pipeline="legacy",reason="${reason}"\\} 1`));
  }
});
