import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from '../support/cli.js';

test('hash --json --hash-size 9 callee: the documented example', async () => {
  const r = await cli(['hash', '--json', '--hash-size', '9', 'callee']);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), {
    signedness: 'signed',
    hashSize: 9,
    aors: [{ aor: 'callee', hex: '63616c6c6565', coreHash: 1864304298, aorhash: 1706, slot: 170 }],
  });
});

test('hash --hex and --unsigned-char hash raw bytes with the chosen signedness', async () => {
  // vector 150 of the golden set: "ωmega" (cf 89 6d 65 67 61)
  const signed = await cli(['hash', '--hex', '--json', 'cf896d656761']);
  const unsigned = await cli(['hash', '--hex', '--unsigned-char', '--json', 'cf896d656761']);
  assert.equal(JSON.parse(signed.stdout).aors[0].coreHash, 3615118302);
  assert.equal(JSON.parse(unsigned.stdout).aors[0].coreHash, 3600429276);
  assert.equal(JSON.parse(unsigned.stdout).signedness, 'unsigned');
});

test('hash prints a table for people', async () => {
  const r = await cli(['hash', '--hash-size', '9', 'callee', 'alice@example.com']);
  assert.equal(
    r.stdout,
    'AOR                CORE_HASH   AORHASH  SLOT\ncallee             1864304298  1706     170\nalice@example.com  2920418261  3029     469\n',
  );
});

test('id decode and encode round-trip the 2.2 log-line id', async () => {
  const d = await cli(['id', 'decode', '--json', '120051833657672447']);
  assert.deepEqual(JSON.parse(d.stdout), { ids: [{ contactId: '120051833657672447', aorhash: 1706, rlabel: 168218419, clabel: 767 }] });
  const e = await cli(['id', 'encode', '--aorhash', '1706', '--rlabel', '168218419', '--clabel', '767']);
  assert.equal(e.stdout, '120051833657672447\n');
});

const errors: Array<[string, string[], string]> = [
  [
    'negative id',
    ['id', 'decode', '-5'],
    'ulbridge: BAD_CONTACT_ID: contact id -5 is negative: contact ids are 0 to 4611686018427387903\n',
  ],
  [
    'id >= 2^62',
    ['id', 'decode', '4611686018427387904'],
    'ulbridge: BAD_CONTACT_ID: contact id 4611686018427387904 is >= 2^62: bits 62-63 are never set in a contact id (max 4611686018427387903)\n',
  ],
  [
    'id not an integer',
    ['id', 'decode', '12.5'],
    'ulbridge: BAD_CONTACT_ID: "12.5" is not a contact id: give a decimal integer from 0 to 4611686018427387903\n',
  ],
  [
    'clabel out of range',
    ['id', 'encode', '--aorhash', '1', '--rlabel', '1', '--clabel', '16384'],
    'ulbridge: BAD_CONTACT_ID_PART: clabel must be an integer from 0 to 16383, got 16384\n',
  ],
  [
    'aorhash not a number',
    ['id', 'encode', '--aorhash', 'x', '--rlabel', '1', '--clabel', '1'],
    'ulbridge: BAD_CONTACT_ID_PART: --aorhash must be a non-negative decimal integer, got "x"\n',
  ],
  [
    'hex that is not hex',
    ['hash', '--hex', 'zz'],
    'ulbridge: BAD_HEX: "zz" is not hex bytes: give an even number of hex digits, e.g. 63616c6c6565\n',
  ],
  [
    'hash-size out of range',
    ['hash', '--hash-size', '17', 'a'],
    'ulbridge: BAD_HASH_SIZE: --hash-size must be an integer from 0 to 16 (OpenSIPS refuses larger values; 0 and 1 mean 512 slots), got "17"\n',
  ],
];

for (const [name, args, stderr] of errors) {
  test(`bad input, ${name}: one line, exit 2, no stack trace`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, stderr);
    assert.equal(r.stdout, '');
  });
}

test('--debug adds the stack trace', async () => {
  const r = await cli(['--debug', 'id', 'decode', '-5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ulbridge: BAD_CONTACT_ID: contact id -5 is negative/);
  assert.match(r.stderr, /\n\s+at /);
});
