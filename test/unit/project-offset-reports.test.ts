import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OffsetReports } from '../../src/project/offsetReports.js';

type Sent = Array<Array<[number, string]>>;

/** The reports' clock and the mocked timers, moved together; then pending callbacks run. */
async function advance(t: { mock: { timers: { tick(ms: number): void } } }, clock: { now: number }, ms: number): Promise<void> {
  clock.now += ms;
  t.mock.timers.tick(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

function reports(clock: { now: number }, opts: { fail?: () => boolean } = {}) {
  const sent: Sent = [];
  const errors: unknown[] = [];
  const r = new OffsetReports({
    topic: 'log',
    intervalMs: 1000,
    now: () => clock.now,
    onError: (e) => errors.push(e),
    commit: async (offsets) => {
      for (const o of offsets) assert.equal(o.topic, 'log');
      if (opts.fail?.()) throw new Error('REBALANCE_IN_PROGRESS');
      sent.push(offsets.map((o) => [o.partition, o.offset]));
    },
  });
  return { r, sent, errors };
}

test('the first batch reports at once; later ones within the interval wait for one report that carries every partition', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const clock = { now: 10_000 };
  const { r, sent } = reports(clock);
  await r.note(0, '5');
  assert.deepEqual(sent, [[[0, '5']]]);
  await advance(t, clock, 200);
  await r.note(1, '7');
  await advance(t, clock, 100);
  await r.note(0, '9');
  await advance(t, clock, 699);
  assert.deepEqual(sent.length, 1, 'nothing sent within the interval');
  await advance(t, clock, 1);
  assert.deepEqual(
    sent,
    [
      [[0, '5']],
      [
        [1, '7'],
        [0, '9'],
      ],
    ],
    'the timer reports the latest offset of each partition',
  );
  await advance(t, clock, 1500);
  await r.note(2, '3');
  assert.deepEqual(sent.at(-1), [[2, '3']], 'an interval after the last report, a batch reports at once');
});

test('close() reports what is pending, and nothing is reported after it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const clock = { now: 0 };
  const { r, sent } = reports(clock);
  await r.note(0, '1');
  await r.note(0, '2');
  await r.close();
  assert.deepEqual(sent, [[[0, '1']], [[0, '2']]]);
  await advance(t, clock, 5000);
  await r.note(0, '3');
  await advance(t, clock, 5000);
  await r.close();
  assert.deepEqual(sent, [[[0, '1']], [[0, '2']]]);
});

test('reset() (a rebalance) drops what is pending', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const clock = { now: 0 };
  const { r, sent } = reports(clock);
  await r.note(0, '1');
  await r.note(1, '4');
  r.reset();
  await advance(t, clock, 1000);
  assert.deepEqual(sent, [[[0, '1']]]);
});

test('a failed report keeps its offsets for the next one unless newer ones were noted or a reset came; the timer passes its error on', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const clock = { now: 0 };
  let failing = true;
  const { r, sent, errors } = reports(clock, { fail: () => failing });
  await assert.rejects(r.note(0, '1'), /REBALANCE_IN_PROGRESS/, 'a report made by a batch fails the batch');
  await r.note(1, '2');
  await advance(t, clock, 1000);
  assert.equal(errors.length, 1);
  failing = false;
  await advance(t, clock, 1000);
  await r.note(1, '3');
  assert.deepEqual(
    sent,
    [
      [
        [0, '1'],
        [1, '3'],
      ],
    ],
    'partition 0 kept; partition 1 at its newer offset',
  );

  failing = true;
  await advance(t, clock, 1000);
  const failed = r.note(0, '8');
  r.reset();
  await assert.rejects(failed);
  failing = false;
  await r.close();
  assert.deepEqual(
    sent,
    [
      [
        [0, '1'],
        [1, '3'],
      ],
    ],
    'offsets of a report that failed after a reset are not restored',
  );
});
