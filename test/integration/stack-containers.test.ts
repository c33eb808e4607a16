/**
 * The testcontainers variant of the stack. Runs only where a Docker engine answers (never on a
 * machine without one, where it is skipped); the native launcher is what the rest of the suite uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeConnect, probeKafka, probeMariaDb, probePostgres } from '../../src/stack/probes.js';
import { dockerAvailable, startContainerStack } from '../../src/stack/testcontainers.js';

const skip = (await dockerAvailable()) ? false : 'no Docker engine answers';

test('the container stack starts the four services and stops them', { skip, timeout: 600_000 }, async () => {
  const s = await startContainerStack();
  try {
    assert.ok(await probePostgres(s.postgres.url));
    assert.ok(await probeMariaDb(s.mariadb.url));
    assert.ok(await probeKafka(s.kafka.brokers));
    assert.ok(await probeConnect(s.connect.url));
  } finally {
    await s.stop();
  }
});
