import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocationTable } from '../../src/demo/tables.js';
import { freshPostgresDb, withPg, type FreshDb } from '../support/services.js';
import {
  bindingKey,
  compareIndependently,
  idsMovedForUnchanged,
  legacyFingerprints,
  targetIdsByBinding,
  type TableSpec,
} from '../support/independentCompare.js';

// The independent comparison (test/support/independentCompare.ts) that the procedure and contract
// tests trust instead of the product's diff: hand-written rows of a 2.1 table written in
// Europe/Berlin and a 4.0 table in UTC that hold the same bindings, then one difference of each
// kind, each reported exactly.

let legacy: FreshDb;
let target: FreshDb;
const L = (): TableSpec => ({ url: legacy.url, release: '2.1', timeZone: 'Europe/Berlin' });
const T = (): TableSpec => ({ url: target.url, release: '4.0', timeZone: 'UTC' });
const NOW = 1_800_000_000; // 2027-01-15 08:00:00 UTC

before(async () => {
  legacy = await freshPostgresDb('indep_legacy');
  target = await freshPostgresDb('indep_target');
  await createLocationTable(legacy.url, '2.1');
  await createLocationTable(target.url, '4.0');
});

after(async () => {
  await legacy?.drop();
  await target?.drop();
});

async function reset(): Promise<void> {
  // 2.1, Berlin wall-clock DATETIMEs: NOW+3600 is 2027-01-15 10:00:00 in Berlin (UTC+1);
  // '1970-01-01 01:00:00' is localtime(0) there: permanent. One row expired at NOW-60.
  await withPg(legacy.url, (c) =>
    c.query(`TRUNCATE location;
      INSERT INTO location (username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, sip_instance, attr) VALUES
      ('Alice', 'Example.COM', 'sip:Alice@10.0.0.1', NULL, '', '2027-01-15 10:00:00', 0.5, 'c1', 5, '2027-01-15 08:59:00', 0, '', 'ua', 'udp:192.0.2.1:5060', 15, NULL, NULL),
      ('bob%2Ex', 'example.com', 'sip:bob@10.0.0.2', 'sip:198.51.100.1', NULL, '1970-01-01 01:00:00', 1, 'c2', 1, '2027-01-15 09:00:00', 2, 'NAT', 'ua2', NULL, NULL, '<urn:x>', 'a'),
      ('carol', 'example.com', 'sip:carol@10.0.0.3', NULL, NULL, '2027-01-15 08:59:00', 1, 'c3', 1, '2027-01-15 08:00:00', 0, NULL, '', NULL, NULL, NULL, NULL)`),
  );
  // 4.0, UTC: the same live bindings in canonical form (user lower-cased and unescaped, domain
  // lower-cased), ulbridge's FL_MEM bit set on one, '' for NULL and NULL for ''; no expired row.
  await withPg(target.url, (c) =>
    c.query(`TRUNCATE location;
      INSERT INTO location (contact_id, username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, sip_instance, attr) VALUES
      (2147483648, 'alice', 'example.com', 'sip:Alice@10.0.0.1', '', NULL, ${NOW + 3600}, 0.5, 'c1', 5, '2027-01-15 07:59:00', 1, NULL, 'ua', 'udp:192.0.2.1:5060', 15, '', ''),
      (2147500032, 'bob.x', 'example.com', 'sip:bob@10.0.0.2', 'sip:198.51.100.1', '', 0, 1, 'c2', 1, '2027-01-15 08:00:00', 2, 'NAT', 'ua2', '', NULL, '<urn:x>', 'a')`),
  );
}

test('equal tables: canonical AOR, DATETIME in the zone vs unix time, permanent 0, FL_MEM, empty = NULL; expired rows counted, not compared', async () => {
  await reset();
  const c = await compareIndependently(L(), T(), { now: NOW });
  assert.deepEqual(
    { equal: c.equal, legacy: c.legacy, target: c.target, missing: c.missing, extra: c.extra, changed: c.changed },
    {
      equal: true,
      legacy: { rows: 3, expired: 1, live: 2, duplicates: 0 },
      target: { rows: 2, expired: 0, live: 2, duplicates: 0 },
      missing: [],
      extra: [],
      changed: [],
    },
  );
});

test('one difference of each kind, reported exactly', async () => {
  await reset();
  await withPg(target.url, (c) =>
    c.query(`UPDATE location SET cseq = 6, expires = ${NOW + 3601} WHERE callid = 'c1';
      INSERT INTO location (contact_id, username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES
      (2147516416, 'dave', 'example.com', 'sip:dave@10.0.0.4', 0, 'c4', 1, '2027-01-15 08:00:00', ''),
      (2147516417, 'bob.x', 'example.com', 'sip:bob@10.0.0.2', 0, 'c2', 1, '2027-01-15 08:00:00', '')`),
  );
  await withPg(legacy.url, (c) =>
    c.query(
      `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified) VALUES ('erin', 'example.com', 'sip:erin@10.0.0.5', '2027-01-15 10:00:00', 'c5', 1, '2027-01-15 09:00:00')`,
    ),
  );
  const c = await compareIndependently(L(), T(), { now: NOW });
  assert.equal(c.equal, false);
  assert.deepEqual(c.legacy, { rows: 4, expired: 1, live: 3, duplicates: 0 });
  assert.deepEqual(c.target, { rows: 4, expired: 0, live: 4, duplicates: 1 });
  assert.deepEqual(c.missing.map(bindingKey), [
    bindingKey({ username: 'erin', domain: 'example.com', contact: 'sip:erin@10.0.0.5', callid: 'c5' }),
  ]);
  assert.deepEqual(c.extra.map(bindingKey), [
    bindingKey({ username: 'dave', domain: 'example.com', contact: 'sip:dave@10.0.0.4', callid: 'c4' }),
  ]);
  // The second bob.x row (higher contact_id) is a duplicate of the same identity: counted; the
  // first row (lowest contact_id) is the one compared field by field.
  assert.equal(c.changed.length, 1);
  const byKey = Object.fromEntries(c.changed.map((x) => [x.key, x.fields]));
  assert.deepEqual(byKey[bindingKey({ username: 'alice', domain: 'example.com', contact: 'sip:Alice@10.0.0.1', callid: 'c1' })], {
    expires: { legacy: NOW + 3600, target: NOW + 3601 },
    cseq: { legacy: 5, target: 6 },
  });
});

test('the target is compared as stored: a user part not in canonical (lower-case) form is missing + extra', async () => {
  await reset();
  await withPg(target.url, (c) => c.query(`UPDATE location SET username = 'Alice' WHERE callid = 'c1'`));
  const c = await compareIndependently(L(), T(), { now: NOW });
  assert.deepEqual([c.missing.map((b) => b.username), c.extra.map((b) => b.username), c.changed], [['alice'], ['Alice'], []]);
  // With a case-sensitive legacy registrar the legacy user part is kept as written.
  const cs = await compareIndependently({ ...L(), caseSensitive: true }, T(), { now: NOW });
  assert.deepEqual([cs.equal, cs.missing, cs.extra, cs.changed], [true, [], [], []]);
});

test('target ids per binding, and ids moved for bindings the legacy table left unchanged', async () => {
  await reset();
  const fpBefore = await legacyFingerprints(L(), { now: NOW });
  const idsBefore = await targetIdsByBinding(T());
  const alice = bindingKey({ username: 'alice', domain: 'example.com', contact: 'sip:Alice@10.0.0.1', callid: 'c1' });
  const bob = bindingKey({ username: 'bob.x', domain: 'example.com', contact: 'sip:bob@10.0.0.2', callid: 'c2' });
  assert.deepEqual(Object.fromEntries(idsBefore), { [alice]: ['2147483648'], [bob]: ['2147500032'] });
  assert.equal(fpBefore.size, 2, 'live legacy bindings only');
  // bob's id moves while his legacy row stays; alice's legacy row changes (so her id may move).
  await withPg(target.url, (c) =>
    c.query(
      `UPDATE location SET contact_id = 2147500033 WHERE callid = 'c2'; UPDATE location SET contact_id = 2147483649 WHERE callid = 'c1'`,
    ),
  );
  await withPg(legacy.url, (c) => c.query(`UPDATE location SET cseq = 6 WHERE callid = 'c1'`));
  const r = idsMovedForUnchanged(fpBefore, await legacyFingerprints(L(), { now: NOW }), idsBefore, await targetIdsByBinding(T()));
  assert.deepEqual(r, { unchanged: 1, moved: [{ key: bob, before: ['2147500032'], after: ['2147500033'] }] });
});
