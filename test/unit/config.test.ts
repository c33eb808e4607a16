import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/ops/config.js';

const base = { kafka: { brokers: ['127.0.0.1:9092'] }, targets: [{ name: 'main', db: 'postgres://u@h/db', release: '4.0' }] };

test('defaults are filled in', () => {
  assert.deepEqual(parseConfig(base, {}), {
    kafka: { brokers: ['127.0.0.1:9092'], clientId: 'ulbridge' },
    log: { topic: 'ulbridge.registrations', partitions: 6, deadLetterTopic: 'ulbridge.dead-letters' },
    sources: [],
    targets: [{ name: 'main', db: 'postgres://u@h/db', table: 'location', release: '4.0', hashSize: 9, useDomain: false, unsignedChar: false, timeZone: 'UTC', poolSize: 4 }],
    http: { host: '127.0.0.1', port: 9464 },
  });
});

test('${VAR} references and ULBRIDGE_* overrides come from the environment', () => {
  const cfg = parseConfig({ ...base, targets: [{ ...base.targets[0], db: '${TARGET_DB}' }] }, { TARGET_DB: 'postgres://x@y/z', ULBRIDGE_KAFKA_BROKERS: 'a:1, b:2', ULBRIDGE_HTTP_PORT: '0' });
  assert.equal(cfg.targets[0]!.db, 'postgres://x@y/z');
  assert.deepEqual(cfg.kafka.brokers, ['a:1', 'b:2']);
  assert.equal(cfg.http.port, 0);
});

const errors: Array<[string, unknown, string]> = [
  ['hash_size above 16', { ...base, targets: [{ ...base.targets[0], hashSize: 17 }] }, 'config targets[0].hashSize: Too big: expected number to be <=16'],
  ['2.1 target', { ...base, targets: [{ ...base.targets[0], release: '2.1' }] }, 'config targets[0].release: must be a release with contact_id: 2.2, 2.3, 2.4, 3.x or 4.0'],
  ['unknown key', { ...base, targets: [{ ...base.targets[0], hashsize: 9 }] }, 'config targets[0]: Unrecognized key: "hashsize"'],
  ['bad zone', { ...base, sources: [{ name: 's', release: '2.1', topic: 't', timeZone: 'Mars/Olympus' }] }, 'config sources[0].timeZone: must be an IANA time zone such as UTC or Europe/Berlin'],
  ['MySQL target', { ...base, targets: [{ ...base.targets[0], db: 'mysql://root@h/db' }] }, 'config targets[0].db: must be a postgres:// URL (MariaDB targets are not supported yet)'],
  ['unset variable', { ...base, targets: [{ ...base.targets[0], db: '${NOPE}' }] }, 'config targets[0].db: environment variable NOPE is not set'],
  ['duplicate names', { ...base, targets: [base.targets[0], base.targets[0]] }, 'config targets: the name "main" is used twice'],
  ['nothing to run', { kafka: base.kafka }, 'config: nothing to run; add at least one entry to sources (ingest) or targets (projection)'],
];

for (const [name, raw, message] of errors) {
  test(`config error names the key: ${name}`, () => {
    assert.throws(() => parseConfig(raw, {}), (e: any) => e.code === 'CONFIG_INVALID' && e.message === message);
  });
}
