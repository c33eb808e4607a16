import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import kafkajs, { type Consumer } from 'kafkajs';
import { failStageOnCrash, rejoinOnMembershipLoss } from '../../src/ops/stageConsumer.js';
import { isStoppedError, Lifecycle } from '../../src/ops/lifecycle.js';
import type { Logger } from '../../src/ops/logger.js';

// kafkajs is CommonJS: its error classes are members of its module object, not named exports.
const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;

test('a start that fails half-way releases exactly what it opened, newest first, and rethrows', async () => {
  const released: string[] = [];
  const lc = new Lifecycle('stage "x"');
  await assert.rejects(
    lc.start(async () => {
      lc.hold('producer', async () => released.push('producer'));
      lc.hold('consumer', async () => released.push('consumer'));
      throw new Error('broker said no');
    }),
    /broker said no/,
  );
  assert.deepEqual(released, ['consumer', 'producer']);
  assert.deepEqual([lc.state, lc.failure], ['failed', 'broker said no']);
  await lc.stop();
  assert.deepEqual(released, ['consumer', 'producer'], 'released once');
  assert.equal(lc.state, 'failed');
});

test('stop() while starting aborts the start: a sleep ends at once, the start rejects with STOPPED, everything is released', async () => {
  const released: string[] = [];
  const lc = new Lifecycle('ingest "legacy"');
  let slept = false;
  const starting = lc.start(async () => {
    lc.hold('admin', async () => released.push('admin'));
    await lc.sleep(60_000);
    slept = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  const t0 = Date.now();
  await lc.stop();
  assert.ok(Date.now() - t0 < 5_000);
  await assert.rejects(
    starting,
    (e: any) => isStoppedError(e) && e.code === 'STOPPED' && e.message === 'ingest "legacy" was stopped while starting',
  );
  assert.equal(slept, false);
  assert.deepEqual(released, ['admin']);
  assert.deepEqual([lc.state, lc.failure], ['stopped', null]);
});

test('stop() while a start step is awaited: the next checkpoint ends the start, and what that step opened is released', async () => {
  const released: string[] = [];
  const lc = new Lifecycle('projection "main"');
  let resolveConnect!: () => void;
  const starting = lc.start(async () => {
    lc.hold('consumer', async () => released.push('consumer'));
    await new Promise<void>((r) => (resolveConnect = r));
    lc.checkpoint();
    lc.hold('never', async () => released.push('never'));
  });
  await new Promise((r) => setTimeout(r, 10));
  const stopping = lc.stop();
  resolveConnect();
  await stopping;
  await assert.rejects(starting, (e: any) => e.code === 'STOPPED');
  assert.deepEqual(released, ['consumer']);
});

test('stop() is valid in any state and idempotent; a running stage drains its holds; start twice is refused', async () => {
  const idle = new Lifecycle('idle');
  await idle.stop();
  await idle.stop();
  assert.equal(idle.state, 'stopped');

  const released: string[] = [];
  const lc = new Lifecycle('bridge');
  await lc.start(async () => lc.hold('http', async () => released.push('http')));
  assert.equal(lc.state, 'running');
  await assert.rejects(
    lc.start(async () => undefined),
    (e: any) => e.code === 'INVALID_STATE' && e.message === 'bridge cannot start: it is running',
  );
  await Promise.all([lc.stop(), lc.stop()]);
  assert.deepEqual(released, ['http']);
  assert.equal(lc.state, 'stopped');
});

test('a release that throws is reported and the others still run; a crash after start keeps the failure through stop()', async () => {
  const reported: string[] = [];
  const released: string[] = [];
  const lc = new Lifecycle('reverse "r"', (what, err) => reported.push(`${what}: ${(err as Error).message}`));
  await lc.start(async () => {
    lc.hold('pool', async () => released.push('pool'));
    lc.hold('consumer', async () => {
      throw new Error('socket gone');
    });
  });
  const heard: string[] = [];
  lc.onFailure((message) => heard.push(message));
  lc.fail(new Error('consumer crashed for good'));
  lc.fail(new Error('a second crash'));
  await lc.stop();
  assert.deepEqual(heard, ['consumer crashed for good'], 'listeners hear the first failure, once');
  assert.deepEqual(reported, ['consumer: socket gone']);
  assert.deepEqual(released, ['pool']);
  assert.deepEqual([lc.state, lc.failure], ['failed', 'consumer crashed for good']);
});

test('a failure reported while the start body finishes stands: start resolves, the stage is failed', async () => {
  const lc = new Lifecycle('ingest "legacy"');
  await lc.start(async () => {
    // e.g. the consumer's group join is refused before start() has returned
    lc.fail(new Error('consumer crashed for good'));
  });
  assert.deepEqual([lc.state, lc.failure], ['failed', 'consumer crashed for good']);
  await lc.stop();
  assert.deepEqual([lc.state, lc.failure], ['failed', 'consumer crashed for good']);
});

test('failStageOnCrash: a crash kafkajs will not restart fails the stage; a restarted one or one while stopping does not', async () => {
  const crash = (restart: boolean) => ({ payload: { error: new Error(`broker gone (restart ${restart})`), restart } });
  const fakeConsumer = () => {
    const emitter = new EventEmitter();
    return { events: { CRASH: 'consumer.crash' }, on: (e: string, fn: (ev: unknown) => void) => emitter.on(e, fn), emitter };
  };
  const logged: string[] = [];
  const log = { error: (_o: unknown, msg: string) => logged.push(msg) } as unknown as Logger;

  const lc = new Lifecycle('projection "main"');
  await lc.start(async () => undefined);
  const c = fakeConsumer();
  failStageOnCrash(c as unknown as Consumer, lc, log, 'projection');
  c.emitter.emit('consumer.crash', crash(true));
  assert.equal(lc.state, 'running', 'kafkajs restarts the consumer: not a failure');
  c.emitter.emit('consumer.crash', crash(false));
  assert.deepEqual([lc.state, lc.failure], ['failed', 'broker gone (restart false)']);
  assert.deepEqual(logged, ['projection consumer crashed', 'projection consumer crashed']);

  const stopping = new Lifecycle('reverse "r"');
  await stopping.start(async () => {
    stopping.hold('consumer', async () => {
      d.emitter.emit('consumer.crash', crash(false)); // a crash while draining
    });
  });
  const d = fakeConsumer();
  failStageOnCrash(d as unknown as Consumer, stopping, log, 'reverse');
  await stopping.stop();
  assert.deepEqual([stopping.state, stopping.failure], ['stopped', null]);
});

test('rejoinOnMembershipLoss: a membership error wrapped by kafkajs is thrown unwrapped (kafkajs rejoins); others as they are', async () => {
  // What kafkajs's commitOffsets() throws when the broker has dropped the member: its retrier wraps
  // the protocol error in a KafkaJSNonRetriableError whose cause is that error.
  const protocol = (type: string, message: string) =>
    new KafkaJSProtocolError(Object.assign(new Error(message), { type, code: 25, retriable: false }));
  const unknownMember = protocol('UNKNOWN_MEMBER_ID', 'The coordinator is not aware of this member');
  const wrapped = Object.assign(new KafkaJSNonRetriableError(unknownMember), { cause: unknownMember });
  const throwing = (e: Error) => rejoinOnMembershipLoss(async () => Promise.reject(e));
  await assert.rejects(throwing(wrapped)(1), (e) => e === unknownMember);
  await assert.rejects(throwing(unknownMember)(1), (e) => e === unknownMember);
  const generation = protocol('ILLEGAL_GENERATION', 'Specified group generation id is not valid');
  await assert.rejects(
    throwing(Object.assign(new KafkaJSNonRetriableError(generation), { cause: generation }))(1),
    (e) => e === generation,
  );

  // Anything else keeps its own identity (a crash kafkajs restarts, or the stage's own error).
  const other = new KafkaJSNonRetriableError(new KafkaJSConnectionError('Connection error: ECONNREFUSED'));
  await assert.rejects(throwing(other)(1), (e) => e === other);
  const own = new Error('target database unreachable');
  await assert.rejects(throwing(own)(1), (e) => e === own);

  const seen: number[] = [];
  await rejoinOnMembershipLoss(async (n: number) => void seen.push(n))(7);
  assert.deepEqual(seen, [7], 'a handler that succeeds runs once with its payload');
});
