import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocationRow } from '../../src/db/locationRows.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { releaseProfile } from '../../src/opensips/releases.js';
import { checkTimeZone, expiryRule, wallClock } from '../../src/verify/expiry.js';
import { kvStoreProblem } from '../../src/verify/kvStore.js';
import { LOADABLE, R, REJECT_REASONS } from '../../src/verify/reasons.js';
import { verifyProfile } from '../../src/verify/release.js';
import { PreloadSimulator, type SimulatorOptions } from '../../src/verify/simulator.js';
import { firstPathUri, isSipUri } from '../../src/verify/sipUri.js';
import { isValidSocket } from '../../src/verify/socket.js';

const P40 = releaseProfile('4.0');
const P22 = releaseProfile('2.2');

function idFor(aor: string, rlabel: number, clabel: number, signedness: 'signed' | 'unsigned' = 'signed'): bigint {
  return packContactId({ aorhash: coreHash(Buffer.from(aor, 'utf8'), signedness) & 0xffff, rlabel, clabel });
}

function row(over: Partial<LocationRow> = {}): LocationRow {
  return {
    contactId: idFor('alice', 5, 1),
    username: 'alice',
    domain: null,
    contact: 'sip:alice@192.0.2.1:5060',
    received: null,
    path: null,
    expires: 0,
    q: 1,
    callid: 'cid-1',
    cseq: 1,
    flags: 0,
    socket: null,
    kvStore: null,
    ...over,
  };
}

function sim(over: Partial<SimulatorOptions> = {}): PreloadSimulator {
  return new PreloadSimulator({
    profile: P40,
    hashSize: 9,
    slots: 512,
    useDomain: false,
    signedness: 'signed',
    tableName: 'location',
    ...over,
  });
}

test('isSipUri accepts what parse_uri accepts', () => {
  for (const ok of [
    'sip:alice@192.0.2.1',
    'sip:alice@192.0.2.1:5060;transport=udp',
    'sips:bob@example.com:5061;transport=tls;ob',
    'SIP:Alice@Example.COM',
    'sip:host.example.com',
    'sip:alice:secret@host',
    'sip:[2001:db8::1]:5060',
    'sip:alice@[2001:db8::1];transport=tcp',
    'sip:alice@host?subject=hi',
    'sip:+4930123;user=phone@gw.example.net',
    'tel:+4930123456',
    'sip:alice@host;x=<weird>',
  ]) {
    assert.equal(isSipUri(ok), true, ok);
  }
  for (const bad of [
    '',
    'sip:',
    'alice@host',
    '<sip:alice@host>',
    'http://host/',
    'sipx:alice@host',
    'sip:@host',
    'sip:alice@',
    'sip:alice@host:',
    'sip:alice@host:99999',
    'sip:alice@host:123456',
    'sip:alice@host:50a0',
    'sip:ali ce@host',
    'sip:alice@ho st',
    'sip:alice@host;p=1 x',
    'sip:alice@[2001:db8::1',
    'sip:alice@[]',
    'sip:<alice>@host',
    'sip:alice@host/path',
  ]) {
    assert.equal(isSipUri(bad), false, bad);
  }
});

test('firstPathUri takes the URI of the first Path element', () => {
  assert.equal(firstPathUri('<sip:p1.example.net;lr>,<sip:p2.example.net;lr>'), 'sip:p1.example.net;lr');
  assert.equal(firstPathUri('"Edge, west" <sip:edge.example.net;lr>'), 'sip:edge.example.net;lr');
  assert.equal(firstPathUri(' sip:bare.example.net;lr '), 'sip:bare.example.net;lr');
  assert.equal(firstPathUri('<sip:broken.example.net;lr'), null);
  assert.equal(firstPathUri(',<sip:second;lr>'), null);
});

test('isValidSocket follows parse_phostport', () => {
  for (const ok of [
    'udp:192.0.2.10:5060',
    'tcp:[2001:db8::1]:5060',
    'TLS:sip.example.net:5061',
    '192.0.2.10:5060',
    'udp:192.0.2.10',
    'host',
    'ws:[::1]',
    'hep_udp:h:9',
  ]) {
    assert.equal(isValidSocket(ok), true, ok);
  }
  for (const bad of ['foo:h:1', 'udp:h:x', 'udp:h:1:2', 'udp:h:', 'udp:[[::1]]:5060', 'udp:]h[:5060', 'foo:bar', ':5060x']) {
    assert.equal(isValidSocket(bad), false, bad);
  }
});

test('kvStoreProblem returns the line kv_store.c logs', () => {
  assert.equal(kvStoreProblem(null), null);
  assert.equal(kvStoreProblem(''), null);
  assert.equal(kvStoreProblem('{"a":"x","b":2}'), null);
  assert.equal(kvStoreProblem('{'), 'bad JSON input or oom');
  assert.equal(kvStoreProblem('[1]'), 'non-cJSON_Object kv_store col type (32)');
  assert.equal(kvStoreProblem('"s"'), 'non-cJSON_Object kv_store col type (16)');
  assert.equal(kvStoreProblem('{"a":[1]}'), 'unknown obj type (32)');
  assert.equal(kvStoreProblem('{"a":null}'), 'unknown obj type (4)');
  assert.equal(kvStoreProblem('{"a":true}'), 'unknown obj type (2)');
});

test('expiry: unix seconds, 0 is permanent, expires <= now is expired', () => {
  const rule = expiryRule(P40, 1_700_000_000, 'UTC');
  assert.equal(rule.isExpired(0), false);
  assert.equal(rule.isExpired(1), true);
  assert.equal(rule.isExpired(1_700_000_000), true);
  assert.equal(rule.isExpired(1_700_000_001), false);
});

test('expiry: DATETIME in the registrar time zone, localtime(0) is permanent', () => {
  assert.equal(wallClock(1_700_000_000, 'UTC'), '2023-11-14 22:13:20');
  assert.equal(wallClock(1_700_000_000, 'Europe/Berlin'), '2023-11-14 23:13:20');
  const utc = expiryRule(P22, 1_700_000_000, 'UTC');
  assert.equal(utc.isExpired('1970-01-01 00:00:00'), false);
  assert.equal(utc.isExpired('2023-11-14 22:13:20'), true);
  assert.equal(utc.isExpired('2023-11-14 22:13:21'), false);
  const berlin = expiryRule(P22, 1_700_000_000, 'Europe/Berlin');
  assert.equal(berlin.isExpired('1970-01-01 01:00:00'), false, 'localtime(0) on CET');
  assert.equal(berlin.isExpired('1970-01-01 00:00:00'), true, 'UTC zero is an expired row on CET');
  assert.equal(berlin.isExpired('2023-11-14 23:13:20'), true);
  assert.equal(berlin.isExpired('2023-11-14 23:13:21'), false);
  assert.throws(() => checkTimeZone('Mars/Base'), {
    code: 'BAD_TIMEZONE',
    message: `--timezone "Mars/Base" is not an IANA time zone: give the registrar host's zone, e.g. UTC or Europe/Berlin`,
  });
});

test('verifyProfile refuses unknown releases and 2.1', () => {
  assert.equal(verifyProfile('3.x').name, '3.x');
  assert.throws(() => verifyProfile('2.5'), {
    code: 'UNKNOWN_RELEASE',
    message: 'unknown release "2.5": --release takes one of 2.2, 2.3, 2.4, 3.x, 4.0',
  });
  assert.throws(() => verifyProfile('2.1'), {
    code: 'UNSUPPORTED_RELEASE',
    message:
      'release 2.1 has no contact_id (its key is an auto-increment id), so there is no preload check to simulate: ' +
      '--release takes one of 2.2, 2.3, 2.4, 3.x, 4.0; to move a 2.1 table, migrate it (DESIGN.md §4)',
  });
});

test('a well-formed row is loadable', () => {
  const s = sim();
  assert.equal(s.check(row()), LOADABLE);
  assert.equal(
    s.check(row({ socket: 'udp:192.0.2.10:5060', received: 'sip:203.0.113.7:5062', path: '<sip:edge.example.net;lr>' })),
    LOADABLE,
  );
  assert.equal(s.kvStoreWarning(row({ kvStore: '{"a":1}' })), null);
  assert.equal(s.kvStoreWarning(row({ kvStore: '{' })), 'bad JSON input or oom');
  assert.equal(sim({ profile: P22 }).kvStoreWarning(row({ kvStore: '{' })), null, '2.2 has no kv_store');
});

test('each reject reason, with the line OpenSIPS logs', () => {
  const s = sim();
  const cases: Array<[Partial<LocationRow>, number, string]> = [
    [{ username: '' }, R.emptyUsername, 'empty username record in table location...skipping'],
    [{ username: null }, R.emptyUsername, 'empty username record in table location...skipping'],
    [{ contactId: null }, R.nullContactId, 'bad contact id'],
    [{ contact: '' }, R.emptyContact, 'bad contact'],
    [{ expires: null }, R.nullExpires, 'empty expire'],
    [{ q: null }, R.nullQ, 'empty q'],
    [{ cseq: null }, R.nullCseq, 'empty cseq_nr'],
    [{ callid: '' }, R.emptyCallid, 'bad callid'],
    [{ flags: null }, R.nullFlags, 'empty flag'],
    [{ socket: 'udp:h:1:2' }, R.badSocket, 'bad socket <udp:h:1:2>'],
    [
      { username: 'dave', contactId: 120051833657672447n },
      R.aorhashMismatch,
      'failed to match aorhashes for user dave,db aorhash [1706] new aorhash [143],db contactid [120051833657672447]',
    ],
    [{ contact: 'alice@192.0.2.1' }, R.badContactUri, 'contact [alice@192.0.2.1] is not valid! Will not store it!'],
    [{ path: '<sip:edge.example.net;lr' }, R.badPath, "failed to get dst_uri for Path '<sip:edge.example.net;lr'"],
    [{ path: '<http://edge>' }, R.badPath, "failed to parse URI of next hop: 'http://edge'"],
    [{ received: '203.0.113.7:5062' }, R.badReceived, "failed to parse URI of next hop: '203.0.113.7:5062'"],
  ];
  for (const [over, code, log] of cases) {
    const r = row(over);
    assert.equal(s.check(r), code, log);
    assert.equal(s.explain(r, code as never), log);
  }
  assert.deepEqual(
    REJECT_REASONS.map((r) => r.key),
    [
      'emptyUsername',
      'nullContactId',
      'emptyContact',
      'nullExpires',
      'nullQ',
      'nullCseq',
      'emptyCallid',
      'nullFlags',
      'badSocket',
      'emptyDomain',
      'aorTooLong',
      'aorhashMismatch',
      'badContactUri',
      'badPath',
      'badReceived',
    ],
  );
});

test('the first failing check wins, in preload order', () => {
  const s = sim();
  assert.equal(s.check(row({ username: '', contactId: null })), R.emptyUsername);
  assert.equal(s.check(row({ contactId: null, contact: '' })), R.nullContactId);
  assert.equal(s.check(row({ cseq: null, callid: '' })), R.nullCseq, 'dbrow2info tests cseq before callid');
  assert.equal(s.check(row({ flags: null, socket: 'udp:h:1:2' })), R.nullFlags);
  assert.equal(s.check(row({ username: 'dave', contact: 'nope' })), R.aorhashMismatch, 'aorhash before the contact URI');
  assert.equal(s.check(row({ contact: 'nope', path: '<x' })), R.badContactUri);
  assert.equal(s.check(row({ path: '<x', received: 'bad' })), R.badPath);
  assert.equal(s.check(row({ path: '<sip:edge;lr>', received: 'bad' })), LOADABLE, 'received is not looked at when a Path is set');
});

test('use_domain hashes user@domain and checks the domain and the 1024-byte limit', () => {
  const s = sim({ useDomain: true });
  const ok = row({ domain: 'example.com', contactId: idFor('alice@example.com', 5, 1) });
  assert.equal(s.check(ok), LOADABLE);
  assert.equal(s.aorOf(ok), 'alice@example.com');
  assert.equal(sim().check(ok), R.aorhashMismatch, 'the same row with use_domain=0 hashes "alice" only');
  assert.equal(s.check(row({ domain: null })), R.emptyDomain);
  assert.equal(s.explain(row({ domain: '' }), R.emptyDomain), 'empty domain record for user alice...skipping');
  const user = 'u'.repeat(1012);
  const long = row({ username: user, domain: 'example.com', contactId: idFor(`${user}@example.com`, 1, 1) });
  assert.equal(s.check(long), R.aorTooLong, '1012 + 1 + 11 = 1024 bytes, plus NUL, do not fit MAX_URI_SIZE');
  assert.equal(s.explain(long, R.aorTooLong), `URI '${user}@example.co@example.com' longer than 1024`);
  const fits = row({ username: user.slice(1), domain: 'example.com', contactId: idFor(`${user.slice(1)}@example.com`, 1, 1) });
  assert.equal(s.check(fits), LOADABLE, '1023 bytes plus NUL fit');
});

test('char signedness decides the aorhash of non-ASCII AORs', () => {
  const aor = 'josé@exämple.org';
  assert.equal(coreHash(Buffer.from(aor, 'utf8'), 'signed') & 0xffff, 65481);
  assert.equal(coreHash(Buffer.from(aor, 'utf8'), 'unsigned') & 0xffff, 9196);
  const r = row({ username: 'josé', domain: 'exämple.org', contactId: idFor(aor, 3, 3) });
  assert.equal(sim({ useDomain: true }).check(r), LOADABLE);
  const unsigned = sim({ useDomain: true, signedness: 'unsigned' });
  assert.equal(unsigned.check(r), R.aorhashMismatch);
  assert.equal(
    unsigned.explain(r, R.aorhashMismatch),
    `failed to match aorhashes for user ${aor},db aorhash [65481] new aorhash [${coreHash(Buffer.from(aor, 'utf8'), 'unsigned') & 511}],db contactid [${idFor(aor, 3, 3)}]`,
  );
});

test('the "new aorhash" printed is masked by the table size, as OpenSIPS prints it', () => {
  const r = row({ username: 'dave', contactId: 120051833657672447n });
  assert.match(sim({ hashSize: 9, slots: 512 }).explain(r, R.aorhashMismatch), /new aorhash \[143\]/);
  assert.match(sim({ hashSize: 16, slots: 65536 }).explain(r, R.aorhashMismatch), /new aorhash \[48783\]/);
  assert.match(sim({ hashSize: 2, slots: 4 }).explain(r, R.aorhashMismatch), /new aorhash \[3\]/);
});
