import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'lossless-json';
import { createDecoder } from '../../src/cdc/index.js';
import { EnvelopeReader, readEnvelope } from '../../src/cdc/envelope.js';
import { parseJsonBytes } from '../../src/cdc/json.js';

/**
 * The value-schema cache (src/cdc/envelope.ts EnvelopeReader): a message whose value schema text
 * was seen before has only its payload parsed, and decodes exactly as a fresh decoder decodes it:
 * same event, same error reason and message, for every captured envelope and for payloads built to
 * take each of the slow paths of the JSON reader.
 */

const DIR = fileURLToPath(new URL('../fixtures/debezium/', import.meta.url));
const captured = readdirSync(DIR)
  .filter((f) => /^(postgres|mariadb)-2\.1-schemas-[cdru]\.json$/.test(f))
  .map((f) => ({ file: f, text: stringify((parse(readFileSync(`${DIR}${f}`, 'utf8')) as { value: unknown }).value)! }));

type Outcome = { ok: unknown } | { reason: string; message: string };
function outcome(f: () => unknown): Outcome {
  try {
    return { ok: f() };
  } catch (e) {
    const err = e as { reason: string; message: string };
    return { reason: err.reason, message: err.message };
  }
}

/** The payload text of a `{"schema":S,"payload":P}` message replaced by `payload`. */
function withPayload(text: string, payload: string): string {
  const at = text.indexOf(',"payload":');
  return `${text.slice(0, at)},"payload":${payload}}`;
}

test('a repeated value schema is read once: the schemas of later messages are the cached ones', () => {
  const reader = new EnvelopeReader();
  const { text } = captured.find((c) => c.file === 'postgres-2.1-schemas-c.json')!;
  const first = reader.read(Buffer.from(text));
  const second = reader.read(Buffer.from(text));
  assert.equal(first.kind, 'envelope');
  assert.equal(second.kind, 'envelope');
  if (first.kind !== 'envelope' || second.kind !== 'envelope') return;
  assert.ok(first.envelope.schemas);
  assert.equal(second.envelope.schemas, first.envelope.schemas, 'the same parsed schemas, not parsed again');
  assert.deepEqual(second, readEnvelope(parseJsonBytes(Buffer.from(text), 'value')));
});

test('every captured envelope decodes the same through a warm cache as through a fresh decoder', () => {
  for (const db of ['postgres', 'mariadb']) {
    const files = captured.filter((c) => c.file.startsWith(db));
    assert.ok(files.length >= 4, `${db} fixtures`);
    const warm = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
    for (let round = 0; round < 2; round++) {
      for (const { file, text } of files) {
        const fresh = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
        assert.deepEqual(
          outcome(() => warm.decodeChange(Buffer.from(text))),
          outcome(() => fresh.decodeChange(Buffer.from(text))),
          file,
        );
      }
    }
  }
});

test('payloads that only the whole message can judge take the full read, with its exact errors', () => {
  const { text } = captured.find((c) => c.file === 'postgres-2.1-schemas-c.json')!;
  const at = text.indexOf(',"payload":');
  const payload = text.slice(at + ',"payload":'.length, -1);
  const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  const variants: Record<string, string | Buffer> = {
    'the marker escape in a string (lossless-json path)': withPayload(text, payload.replace('"carol-call-1"', '"a\\u0001b"')),
    'a double beyond its range (lossless-json path)': withPayload(text, payload.replace('"cseq":2', '"cseq":1e400')),
    'a long integer (marked and exact)': withPayload(text, payload.replace('"cseq":2', '"cseq":12345678901234567890')),
    'payload null': withPayload(text, 'null'),
    'payload an array': withPayload(text, '[1,2]'),
    'payload a number': withPayload(text, '17'),
    'payload without op': withPayload(text, payload.replace('"op":"c",', '')),
    'a second payload member': `${text.slice(0, -1)},"payload":{}}`,
    'a second schema member': `${text.slice(0, -1)},"schema":null}`,
    'trailing whitespace': `${text} `,
    'not JSON after the schema': withPayload(text, '{"op":'),
    // after.attr is at depth 3 of the whole message: 61 nested arrays reach depth 63, 62 the limit of 64.
    'nested to the depth limit': withPayload(text, payload.replace('"attr":"x=1"', `"attr":${deep(61)}`)),
    'nested past the depth limit': withPayload(text, payload.replace('"attr":"x=1"', `"attr":${deep(62)}`)),
    'invalid UTF-8 in the payload': Buffer.concat([
      Buffer.from(withPayload(text, payload.replace('"carol-call-1"', '"XX"')).split('XX')[0]!),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(withPayload(text, payload.replace('"carol-call-1"', '"XX"')).split('XX')[1]!),
    ]),
  };
  const warm = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
  warm.decode(Buffer.from(text)); // learns the schema
  for (const [what, v] of Object.entries(variants)) {
    const bytes = typeof v === 'string' ? Buffer.from(v) : v;
    const fresh = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
    const expected = outcome(() => fresh.decodeChange(bytes));
    assert.deepEqual(
      outcome(() => warm.decodeChange(bytes)),
      expected,
      what,
    );
  }
  // And the cache still serves the next ordinary message.
  const reader = new EnvelopeReader();
  const a = reader.read(Buffer.from(text));
  reader.read(Buffer.from(withPayload(text, '17').replace('17', '{"op":"c","source":{}}')));
  const b = reader.read(Buffer.from(text));
  assert.ok(a.kind === 'envelope' && b.kind === 'envelope' && a.envelope.schemas === b.envelope.schemas);
});

test('a schema text the fast path cannot parse exactly is not cached', () => {
  const { text } = captured.find((c) => c.file === 'postgres-2.1-schemas-c.json')!;
  const odd = text.replace('"optional":false', '"optional":false,"doc":"a\\u0001b"');
  assert.notEqual(odd, text);
  const reader = new EnvelopeReader();
  const a = reader.read(Buffer.from(odd));
  const b = reader.read(Buffer.from(odd));
  assert.ok(a.kind === 'envelope' && b.kind === 'envelope');
  assert.notEqual(a.envelope.schemas, b.envelope.schemas, 'read in full each time');
  assert.deepEqual(a, b);
});
