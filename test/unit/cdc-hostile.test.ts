import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createDecoder, DECODE_REASONS, DecodeError, type DecodeReason } from '../../src/cdc/index.js';
import { translate } from '../../src/ingest/translate.js';
import { HOSTILE_KINDS, hostileRecord, type HostileRecord } from '../../bench/soak/hostile.js';

// Property test of the CDC decoder against ~2,000 generated hostile envelopes (wrong types, huge
// values, invalid UTF-8, unknown ops, truncated JSON, schema drift, garbage; bench/soak/hostile.ts).
// Each one either decodes or is refused with a documented dead-letter reason (docs/errors.md): never
// another exception, never INTERNAL (which means a decoder bug), never slower than a second. Where
// the generator knows which reasons the contract allows for a break, the reason must be one of them
// (a wrong accept fails too). The soak (npm run soak) sends 10,000 of them through a live bridge.

const DOCUMENTED: ReadonlySet<string> = new Set<DecodeReason>(DECODE_REASONS.filter((r) => r !== 'INTERNAL'));
const RUNS = 2_000;
const SEED = 20261205;

const decoder21 = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'Europe/Berlin', caseSensitive: false });
const decoder40 = createDecoder({ name: 'legacy', release: '4.0', timeZone: 'UTC', caseSensitive: true });

type Outcome = { kind: 'decoded' | 'tombstone' } | { kind: 'rejected'; reason: DecodeReason; message: string };

function outcome(decode: () => { kind: string }): Outcome {
  try {
    const d = decode();
    return { kind: d.kind === 'tombstone' ? 'tombstone' : 'decoded' };
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      assert.fail(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} instead of a DecodeError`);
    }
    return { kind: 'rejected', reason: e.reason, message: e.message };
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const rawOf = (f: { value: string | null; valueEncoding: string | null }): Buffer | null =>
  f.value === null ? null : Buffer.from(f.value, f.valueEncoding === 'base64' ? 'base64' : 'utf8');

function check(r: HostileRecord): void {
  const t0 = performance.now();
  const o = outcome(() => decoder21.decode(r.value));
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `decode took ${ms.toFixed(0)} ms`);
  if (o.kind === 'rejected') {
    assert.ok(DOCUMENTED.has(o.reason), `reason ${o.reason} (${o.message}) is not a documented dead-letter reason`);
    assert.ok(o.message.length > 0 && !o.message.includes('\n'), 'one-line message');
    if (r.expect !== 'decode-or-reject')
      assert.ok(r.expect.includes(o.reason), `expected ${r.expect.join(' or ')}, got ${o.reason}: ${o.message}`);
  } else if (r.expect !== 'decode-or-reject') {
    assert.fail(`accepted (${o.kind}) but the contract says ${r.expect.join(' or ')}`);
  }
  // The ingest's whole translation (decode + log records) never dead-letters as INTERNAL.
  const tr = translate(decoder21, 6, [{ topic: 'legacy.public.location', partition: 0, offset: '7', key: r.key, value: r.value }]);
  for (const f of tr.failures) {
    assert.notEqual(f.reason, 'INTERNAL', `translate: INTERNAL ${f.message}`);
    if (o.kind === 'rejected') assert.equal(f.reason, o.reason);
    // The dead letter keeps the raw value byte for byte.
    assert.deepEqual(rawOf(f), r.value);
  }
  assert.equal(tr.failures.length, o.kind === 'rejected' ? 1 : 0);
  // Another release's decoder refuses the same bytes with a documented reason too.
  const o40 = outcome(() => decoder40.decode(r.value));
  if (o40.kind === 'rejected') assert.ok(DOCUMENTED.has(o40.reason), `4.0 decoder: ${o40.reason} ${o40.message}`);
}

test(`${RUNS} hostile envelopes: each decodes or is refused with a documented reason`, () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(hostileRecord(), (r) => {
      check(r);
      seen.set(r.kind, (seen.get(r.kind) ?? 0) + 1);
    }),
    { numRuns: RUNS, seed: SEED },
  );
  for (const k of HOSTILE_KINDS)
    assert.ok((seen.get(k) ?? 0) > RUNS / HOSTILE_KINDS.length / 3, `kind ${k} was generated (${seen.get(k) ?? 0})`);
});

test('a different seed every run finds nothing either (200 envelopes)', () => {
  fc.assert(fc.property(hostileRecord(), check), { numRuns: 200 });
});

// Found by the generator: the dead-letter writer decoded the raw value with a TextDecoder that
// strips a leading BOM, so the letter did not hold the raw bytes (fixed in src/log/deadLetter.ts).
test('a dead letter keeps a leading UTF-8 BOM of the raw value', () => {
  const value = Buffer.concat([BOM, Buffer.from('{}')]);
  const tr = translate(decoder21, 6, [{ topic: 'legacy.public.location', partition: 0, offset: '7', key: null, value }]);
  assert.equal(tr.failures.length, 1);
  assert.deepEqual(rawOf(tr.failures[0]!), value);
});

// Found by the soak: a NUL (JSON \u0000) in a string column was accepted, and the projection's
// PostgreSQL INSERT then failed for ever ("invalid byte sequence for encoding UTF8: 0x00"), stalling
// its log partition; a lone surrogate (\ud800) became U+FFFD in the log without a word. Both are
// refused by the decoder now.
function envelope(username: string, contact = 'sip:bob@192.0.2.1'): Buffer {
  // Both are put in as JSON text, so that \\u escapes stay escapes.
  const after = {
    id: 7,
    username: 'USERNAME',
    domain: 'example.com',
    contact: 'CONTACT',
    received: null,
    path: null,
    expires: 1714568400000000,
    q: 1,
    callid: 'c-1',
    cseq: 2,
    last_modified: 1714564800000000,
    flags: 0,
    cflags: null,
    user_agent: 'ua',
    socket: null,
    methods: null,
    sip_instance: null,
    attr: null,
  };
  const source = {
    version: '3.6.1.Final',
    connector: 'postgresql',
    name: 'legacy',
    ts_ms: 1795966033824,
    snapshot: 'false',
    db: 'opensips',
    schema: 'public',
    table: 'location',
    txId: 733,
    lsn: 26567616,
  };
  return Buffer.from(
    JSON.stringify({ before: null, after, source, op: 'c', ts_ms: 1795966034091 })
      .replace('"USERNAME"', `"${username}"`)
      .replace('"CONTACT"', `"${contact}"`),
  );
}

function reject(value: Buffer): DecodeError {
  try {
    decoder21.decode(value);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
  assert.fail('decoded');
}

test('a string holding U+0000 is refused as WRONG_TYPE (it stalled the projection)', () => {
  for (const u of ['bob\\u0000', '\\u0000', 'a\\u0000b']) {
    const e = reject(envelope(u));
    assert.equal(e.reason, 'WRONG_TYPE');
    assert.match(e.message, /^after\.username holds U\+0000 \(NUL\) at character \d+, which no text column can store/);
  }
});

test('a lone surrogate is refused as WRONG_TYPE; a surrogate pair is text', () => {
  for (const u of ['\\ud800', 'x\\udfff', '\\ud83d', '\\ude00\\ud83d']) {
    const e = reject(envelope(u));
    assert.equal(e.reason, 'WRONG_TYPE');
    assert.match(e.message, /holds a lone surrogate U\+D[89A-F][0-9A-F]{2}/);
  }
  const ok = decoder21.decode(envelope('\\ud83d\\ude00'));
  assert.equal(ok.kind === 'event' && ok.event.registration?.username, '\u{1F600}');
  // The other string columns are checked the same way.
  assert.equal(reject(envelope('bob', 'sip:\\u0000@x')).message.startsWith('after.contact holds U+0000'), true);
});

// Found by the generator: the JSON fast path (src/cdc/json.ts) walks JSON.parse's tree recursively,
// and JSON.parse takes any depth: a 10,000-deep array (20 KB) overflowed the stack and the decoder
// dead-lettered it as INTERNAL (a decoder bug). Values deeper than 64 levels are now refused.
test('deeply nested JSON is refused with a documented reason, not INTERNAL', () => {
  for (const n of [65, 10_000, 200_000]) {
    for (const v of [
      '['.repeat(n) + ']'.repeat(n),
      '{"a":'.repeat(n) + '1' + '}'.repeat(n),
      `{"op":"c","source":{},"after":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`,
    ]) {
      const e = reject(Buffer.from(v));
      assert.ok(DOCUMENTED.has(e.reason), `${n} levels: ${e.reason} ${e.message}`);
    }
  }
  assert.match(
    reject(Buffer.from('['.repeat(10_000) + ']'.repeat(10_000))).message,
    /^value nests more than 64 levels deep: not a Debezium change event$/,
  );
  // 64 levels and fewer are parsed (a Debezium value with schemas has about 7).
  assert.equal(reject(Buffer.from('['.repeat(64) + ']'.repeat(64))).message, 'value is an array, not a Debezium change event');
});
