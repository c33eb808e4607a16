import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createIngestThread } from '../../src/ingest/thread.js';
import type { Logger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';

test(
  'an exception the ingest thread does not catch fails its start with INGEST_START_FAILED, and is logged',
  { timeout: 60_000 },
  async () => {
    // The worker builds its logger from the main thread's level before anything else; a level only
    // the main thread's logger knows makes that throw, uncaught, at the top of the thread.
    const lines: Array<{ msg: string; stage?: string; pipeline?: string; err?: { message: string } }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as (typeof lines)[number]);
        done();
      },
    });
    // A logger with a level of its own (the type of ulbridge's logger has no custom levels).
    const logger = pino({ customLevels: { chatty: 5 }, level: 'chatty' }, sink) as unknown as Logger;
    const ingest = createIngestThread({
      brokers: ['127.0.0.1:9'], // never reached
      clientId: 'ingest-thread-crash',
      source: { name: 'legacy', release: '2.1', topic: 'crash.public.location' },
      log: { topic: 'crash.log', partitions: 1, deadLetterTopic: 'crash.dlq' },
      groupId: 'crash',
      logger,
      metrics: new Metrics(),
    });
    await assert.rejects(ingest.start(), {
      code: 'INGEST_START_FAILED',
      message: 'ingest "legacy": its worker thread crashed: default level:chatty must be included in custom levels',
    });
    assert.equal(ingest.status().state, 'failed');
    const crash = lines.find((l) => l.msg === 'ingest thread crashed');
    assert.deepEqual(crash && { stage: crash.stage, pipeline: crash.pipeline, err: crash.err?.message }, {
      stage: 'ingest',
      pipeline: 'legacy',
      err: 'default level:chatty must be included in custom levels',
    });
    await ingest.stop();
  },
);
