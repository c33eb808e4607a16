import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferredWrites } from '../../src/project/deferredWrites.js';

test('held-back writes go out in order: in one round trip on flush(), or handed to the COMMIT by take()', async () => {
  const sent: string[] = [];
  const w = new DeferredWrites(async (sql) => sent.push(sql));
  await w.flush();
  assert.deepEqual(sent, [], 'nothing held: no round trip');
  await w.add('UPDATE a');
  await w.add('UPDATE b');
  await w.flush();
  assert.deepEqual(sent, ['UPDATE a; UPDATE b']);
  await w.add('UPDATE c');
  assert.deepEqual(w.take(), ['UPDATE c']);
  assert.deepEqual(w.take(), [], 'taken once');
  await w.flush();
  assert.equal(sent.length, 1);
});

test('past maxBytes of SQL, what is held goes out on its own before more is added', async () => {
  const sent: string[] = [];
  const w = new DeferredWrites(async (sql) => sent.push(sql), 10);
  await w.add('12345');
  await w.add('67890');
  assert.deepEqual(sent, [], 'ten bytes fit');
  await w.add('x');
  assert.deepEqual(sent, ['12345; 67890']);
  assert.deepEqual(w.take(), ['x']);
});
