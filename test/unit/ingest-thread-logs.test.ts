import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createIngestThread } from '../../src/ingest/thread.js';
import { createLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';

test(
  "the ingest thread's log lines go where the main thread's logger writes (the demo's log file), as the worker wrote them; a stop while it starts ends the thread without waiting for Kafka",
  { timeout: 60_000 },
  async () => {
    // Nothing listens on port 9: the worker's Kafka client logs its connection errors (at debug
    // while the ingest starts), and the main thread logs nothing before the stop below.
    const lines: string[] = [];
    let arrived: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        arrived();
        done();
      },
    });
    const ingest = createIngestThread({
      brokers: ['127.0.0.1:9'],
      clientId: 'ingest-thread-logs',
      source: { name: 'legacy', release: '2.1', topic: 'logs.public.location' },
      log: { topic: 'logs.log', partitions: 1, deadLetterTopic: 'logs.dlq' },
      groupId: 'logs',
      logger: createLogger('debug', sink),
      metrics: new Metrics(),
    });
    const starting = ingest.start();
    await first;
    await ingest.stop();
    await assert.rejects(starting, { code: 'STOPPED', message: 'ingest "legacy" was stopped while starting' });
    const records = lines.map((l) => JSON.parse(l) as { level: number; app: string; msg: string; time: string });
    const refused = records.find((r) => r.msg.includes('ECONNREFUSED'));
    assert.ok(refused, `a connection error line of the worker's Kafka client among ${JSON.stringify(records.map((r) => r.msg))}`);
    assert.equal(refused.level, 20);
    assert.equal(refused.app, 'ulbridge');
    for (const l of lines) assert.ok(l.endsWith('\n'), 'one line per record');
  },
);
