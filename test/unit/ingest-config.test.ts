import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { compileIngestOptions, type IngestOptions } from '../../src/ingest/config.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/logger.js';
import { UlbridgeError } from '../../src/ops/errors.js';

const base = (): IngestOptions => ({
  kafka: {} as Kafka,
  source: { name: 'legacy', release: '2.1', topic: 'legacy.public.location' },
  log: { topic: 'ulbridge.registrations', partitions: 12, deadLetterTopic: 'ulbridge.registrations.dlq' },
  groupId: 'ulbridge-ingest-legacy',
  logger: silentLogger,
  metrics: new Metrics(),
});

test('defaults: time zone UTC, case_sensitive false, 1000 records per send', () => {
  const c = compileIngestOptions(base());
  assert.deepEqual(c.source, { name: 'legacy', release: '2.1', topic: 'legacy.public.location', timeZone: 'UTC', caseSensitive: false });
  assert.equal(c.maxRecordsPerSend, 1000);
});

test('invalid options are refused with one coded message each', () => {
  const bad: Array<[(o: IngestOptions) => void, string]> = [
    [
      (o) => (o.source.name = 'leg acy'),
      `ingest source "leg acy": the name must be letters, digits, '.', '_' or '-' (it prefixes every log key)`,
    ],
    [(o) => (o.source.timeZone = 'CEST'), 'ingest source "legacy": time zone "CEST" is not an IANA zone name (e.g. UTC, Europe/Berlin)'],
    [(o) => (o.source.topic = ''), 'ingest source "legacy": topic (the Debezium topic of the table) is empty'],
    [(o) => (o.log.partitions = 0), 'ingest source "legacy": log.partitions must be a positive integer, got 0'],
    [
      (o) => (o.log.deadLetterTopic = o.log.topic),
      'ingest source "legacy": log.deadLetterTopic must differ from log.topic "ulbridge.registrations"',
    ],
    [
      (o) => (o.log.topic = o.source.topic),
      'ingest source "legacy": the Debezium topic "legacy.public.location" cannot also be the log or dead-letter topic',
    ],
    [(o) => (o.groupId = ''), 'ingest source "legacy": groupId is empty'],
    [(o) => (o.maxRecordsPerSend = 0.5), 'ingest source "legacy": maxRecordsPerSend must be a positive integer, got 0.5'],
  ];
  for (const [edit, message] of bad) {
    const o = base();
    edit(o);
    assert.throws(
      () => compileIngestOptions(o),
      (e: unknown) => e instanceof UlbridgeError && e.code === 'CONFIG_INVALID' && e.message === message,
      message,
    );
  }
  const o = base();
  (o.source as { release: string }).release = '1.11';
  assert.throws(
    () => compileIngestOptions(o),
    (e: unknown) => e instanceof UlbridgeError && e.code === 'UNKNOWN_RELEASE',
  );
});
