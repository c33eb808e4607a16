import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/ops/metrics.js';
import { applyRelayedMetric, isRelayedMetric, relayedIngestMetrics, type RelayedMetric } from '../../src/ops/metricsRelay.js';

// The ingest's worker thread counts through relayedIngestMetrics; the main thread applies each
// posted update to the process's one registry. Here the "post" is a structuredClone, as a
// MessagePort delivers it.

test('relayed ingest metrics land in the main registry exactly as direct updates would', async () => {
  const main = new Metrics();
  const posted: RelayedMetric[] = [];
  const relay = relayedIngestMetrics((m) => {
    const delivered: unknown = structuredClone(m);
    assert.ok(isRelayedMetric(delivered), JSON.stringify(delivered));
    posted.push(delivered);
    applyRelayedMetric(main, delivered);
  });
  const labels = { stage: 'ingest', pipeline: 'legacy' };
  relay.eventsIn.inc(labels, 1000);
  relay.eventsIn.inc(labels, 24);
  relay.eventsOut.inc({ ...labels, outcome: 'upsert' }, 1023);
  relay.deadLetters.inc({ pipeline: 'legacy', reason: 'MALFORMED_JSON' }, 1);
  relay.lag.set({ ...labels, topic: 't', partition: '0' }, 7);
  relay.lag.set({ ...labels, topic: 't', partition: '0' }, 0);
  relay.lastEventAge.set(labels, 1719835201.5);
  const end = relay.batchSeconds.startTimer(labels);
  end();

  const values = async (m: { get(): Promise<{ values: Array<{ labels: object; value: number; metricName?: string }> }> }) =>
    (await m.get()).values.map((v) => [v.metricName ?? '', v.labels, v.value]);
  assert.deepEqual(await values(main.eventsIn), [['', labels, 1024]]);
  assert.deepEqual(await values(main.eventsOut), [['', { ...labels, outcome: 'upsert' }, 1023]]);
  assert.deepEqual(await values(main.deadLetters), [['', { pipeline: 'legacy', reason: 'MALFORMED_JSON' }, 1]]);
  assert.deepEqual(await values(main.lag), [['', { ...labels, topic: 't', partition: '0' }, 0]]);
  assert.deepEqual(await values(main.lastEventAge), [['', labels, 1719835201.5]]);
  const batch = (await main.batchSeconds.get()).values;
  assert.deepEqual(
    batch.filter((v) => v.metricName === 'ulbridge_batch_seconds_count').map((v) => [v.labels, v.value]),
    [[labels, 1]],
  );
  assert.equal(posted.length, 8);
  assert.deepEqual(posted[0], { type: 'metric', name: 'eventsIn', op: 'inc', labels, value: 1000 });
});

test('isRelayedMetric accepts only the ingest metrics with their own operation', () => {
  const ok = { type: 'metric', name: 'eventsIn', op: 'inc', labels: {}, value: 1 };
  assert.equal(isRelayedMetric(ok), true);
  for (const bad of [
    { ...ok, name: 'captureRunning', op: 'set' }, // not an ingest metric
    { ...ok, op: 'set' }, // a counter is never set
    { ...ok, name: 'lag', op: 'inc' }, // a gauge is set, not incremented
    { ...ok, name: 'batchSeconds', op: 'inc' },
    { ...ok, value: '1' },
    { ...ok, labels: null },
    { ...ok, type: 'started' },
    null,
    'metric',
  ]) {
    assert.equal(isRelayedMetric(bad), false, JSON.stringify(bad));
  }
});
