import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocationRow } from '../../src/db/locationRows.js';
import { parseTableName } from '../../src/db/table.js';
import { parseDbUrl } from '../../src/db/url.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { releaseProfile } from '../../src/opensips/releases.js';
import { expiryRule } from '../../src/verify/expiry.js';
import { buildReport, renderHuman, type ReportInput } from '../../src/verify/report.js';
import { PreloadSimulator } from '../../src/verify/simulator.js';
import { VerifyTally } from '../../src/verify/tally.js';
import { toJson } from '../../src/cli/output.js';

const P40 = releaseProfile('4.0');
const NOW = 1_700_000_000;

const id = (aor: string, rlabel: number, clabel: number): bigint =>
  packContactId({ aorhash: coreHash(Buffer.from(aor, 'utf8')) & 0xffff, rlabel, clabel });

const base: Omit<LocationRow, 'contactId' | 'username'> = {
  domain: null,
  contact: 'sip:x@192.0.2.1',
  received: null,
  path: null,
  expires: 0,
  q: 1,
  callid: 'c',
  cseq: 1,
  flags: 0,
  socket: null,
  kvStore: null,
};

function input(details: number, version: number | null): ReportInput {
  const sim = new PreloadSimulator({
    profile: P40,
    hashSize: 9,
    slots: 512,
    useDomain: false,
    signedness: 'signed',
    tableName: 'location',
  });
  const tally = new VerifyTally(sim, expiryRule(P40, NOW, 'UTC'), details);
  tally.add({ ...base, contactId: id('alice', 5, 1), username: 'alice' });
  tally.add({ ...base, contactId: id('bob', 6, 1), username: 'bob', expires: 1 });
  tally.add({ ...base, contactId: 120051833657672447n, username: 'dave' });
  tally.add({ ...base, contactId: 120051833657672448n, username: 'erin' });
  tally.add({ ...base, contactId: id('carol', 7, 1), username: '' });
  tally.add({ ...base, contactId: id('frank', 8, 1), username: 'frank', kvStore: '[1]' });
  return {
    options: {
      db: 'ignored',
      table: 'location',
      release: '4.0',
      hashSize: 9,
      useDomain: false,
      signedness: 'signed',
      timezone: 'UTC',
      now: NOW,
      details,
      batchSize: 100,
    },
    target: parseDbUrl('postgres://u:pw@db.example:5432/ul'),
    ctx: { profile: P40, table: parseTableName('location'), slots: 512, version: { versionTablePresent: true, version }, uniqueIds: false },
    tally,
    duplicates: {
      ids: 1,
      rows: 2,
      examples: [
        {
          id: { contactId: '42', aorhash: 0, rlabel: 0, clabel: 42 },
          rows: [
            { username: 'a', domain: null, contact: 'sip:a@h' },
            { username: 'b', domain: null, contact: 'sip:b@h' },
          ],
        },
      ],
    },
    labels: {
      labels: 1,
      aors: 2,
      examples: [
        {
          slot: 423,
          rlabel: 77,
          aorCount: 2,
          aors: [
            { aor: 'u110', contactId: '1867234626755575810' },
            { aor: 'u3', contactId: '2227522596945215489' },
          ],
        },
      ],
    },
  };
}

test('the JSON document: counts per reason and category, password redacted, ids as strings', () => {
  const r = buildReport(input(0, 1013));
  assert.deepEqual(JSON.parse(toJson(r)), {
    db: 'postgres://u:***@db.example:5432/ul',
    dialect: 'postgres',
    table: 'location',
    release: '4.0',
    hashSize: 9,
    slots: 512,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: NOW,
    tableVersion: { expected: 1013, found: 1013, ok: true, opensipsLog: null },
    rowsRead: 6,
    loadable: 3,
    rejected: {
      total: 3,
      byCategory: { aorhashMismatch: 2, emptyUsername: 1, emptyDomain: 0, unparsableFields: 0 },
      byReason: {
        emptyUsername: 1,
        nullContactId: 0,
        emptyContact: 0,
        nullExpires: 0,
        nullQ: 0,
        nullCseq: 0,
        emptyCallid: 0,
        nullFlags: 0,
        badSocket: 0,
        emptyDomain: 0,
        aorTooLong: 0,
        aorhashMismatch: 2,
        badContactUri: 0,
        badPath: 0,
        badReceived: 0,
      },
    },
    warnings: { total: 1, byReason: { badKvStore: 1 } },
    duplicateContactIds: { checkedBy: 'scan', ids: 1, rows: 2 },
    ambiguousRecordLabels: { labels: 1, aors: 2 },
    expired: 1,
    findings: 6,
    clean: false,
  });
});

test('--details adds example rows with decoded ids and the OpenSIPS log line', () => {
  const r = buildReport(input(1, 1013));
  assert.deepEqual(JSON.parse(toJson(r.details)), {
    limit: 1,
    rejected: {
      emptyUsername: [
        {
          id: { contactId: '3304938439048282113', aorhash: 46966, rlabel: 7, clabel: 1 },
          username: '',
          domain: null,
          contact: 'sip:x@192.0.2.1',
          opensipsLog: 'empty username record in table location...skipping',
        },
      ],
      aorhashMismatch: [
        {
          id: { contactId: '120051833657672447', aorhash: 1706, rlabel: 168218419, clabel: 767 },
          username: 'dave',
          domain: null,
          contact: 'sip:x@192.0.2.1',
          opensipsLog: 'failed to match aorhashes for user dave,db aorhash [1706] new aorhash [143],db contactid [120051833657672447]',
          expectedAorhash: 48783,
        },
      ],
    },
    warnings: {
      badKvStore: [
        {
          id: { contactId: '3961197347249192961', aorhash: 56292, rlabel: 8, clabel: 1 },
          username: 'frank',
          domain: null,
          contact: 'sip:x@192.0.2.1',
          opensipsLog: 'non-cJSON_Object kv_store col type (32)',
        },
      ],
    },
    duplicateContactIds: [
      {
        id: { contactId: '42', aorhash: 0, rlabel: 0, clabel: 42 },
        rows: [
          { username: 'a', domain: null, contact: 'sip:a@h' },
          { username: 'b', domain: null, contact: 'sip:b@h' },
        ],
      },
    ],
    ambiguousRecordLabels: [
      {
        slot: 423,
        rlabel: 77,
        aorCount: 2,
        aors: [
          { aor: 'u110', contactId: '1867234626755575810' },
          { aor: 'u3', contactId: '2227522596945215489' },
        ],
      },
    ],
  });
});

test('the human summary, with details and a wrong table version', () => {
  const r = buildReport(input(1, 1011));
  assert.equal(r.findings, 7);
  assert.equal(
    renderHuman(r),
    [
      'ulbridge verify: PostgreSQL table location as OpenSIPS 4.0 preloads it',
      '  hash_size 9 (512 slots), use_domain off, signed char, expiry as of 2023-11-14 22:13:20 UTC',
      '',
      'table version                   1011   OpenSIPS 4.0 refuses to start: "invalid version 1011 for table location found, expected 1013"',
      'rows read                          6',
      'loadable                           3',
      'rejected                           3',
      '  empty username                   1   LM_CRIT "empty username record in table %s...skipping"',
      '      contact_id 3304938439048282113 (aorhash 46966, rlabel 7, clabel 1), username "" domain NULL',
      '        OpenSIPS: empty username record in table location...skipping',
      '  aorhash mismatch                 2   LM_ERR "failed to match aorhashes for user %.*s,db aorhash [%u] new aorhash [%u],db contactid [%PRIu64]"',
      '      contact_id 120051833657672447 (aorhash 1706, rlabel 168218419, clabel 767), username "dave" domain NULL, expected aorhash 48783',
      '        OpenSIPS: failed to match aorhashes for user dave,db aorhash [1706] new aorhash [143],db contactid [120051833657672447]',
      'kv_store warnings                  1   LM_ERR "bad JSON input or oom" / LM_BUG "non-cJSON_Object kv_store col type (%d)" / LM_BUG "unknown obj type (%d)" (the rows load, with an empty or partial kv store)',
      '      contact_id 3961197347249192961 (aorhash 56292, rlabel 8, clabel 1), username "frank" domain NULL',
      '        OpenSIPS: non-cJSON_Object kv_store col type (32)',
      'duplicate contact ids              1   (2 rows)',
      '      contact_id 42 (aorhash 0, rlabel 0, clabel 42) held by:',
      '        username "a" domain NULL contact "sip:a@h"',
      '        username "b" domain NULL contact "sip:b@h"',
      'ambiguous record labels            1   (2 AORs; a lookup by contact id in such a slot can find the wrong AOR)',
      '      slot 423, rlabel 77: 2 AORs: u110 (1867234626755575810), u3 (2227522596945215489)',
      'expired rows                       1   (loaded, then deleted by the first timer run)',
      '',
      'result: 7 findings: OpenSIPS 4.0 refuses to start (table version 1011, expects 1013); preload skips 3 of 6 rows; 1 contact id held by more than one row; 1 record label shared by AORs of one slot; 1 row with a bad kv_store',
    ].join('\n'),
  );
});

test('a clean table', () => {
  const sim = new PreloadSimulator({
    profile: P40,
    hashSize: 9,
    slots: 512,
    useDomain: false,
    signedness: 'signed',
    tableName: 'location',
  });
  const i = input(0, 1013);
  i.tally = new VerifyTally(sim, expiryRule(P40, NOW, 'UTC'), 0);
  i.tally.add({ ...base, contactId: id('alice', 5, 1), username: 'alice' });
  i.duplicates = { ids: 0, rows: 0, examples: [] };
  i.labels = { labels: 0, aors: 0, examples: [] };
  const r = buildReport(i);
  assert.equal(r.clean, true);
  assert.equal(r.findings, 0);
  assert.equal(
    renderHuman(r),
    [
      'ulbridge verify: PostgreSQL table location as OpenSIPS 4.0 preloads it',
      '  hash_size 9 (512 slots), use_domain off, signed char, expiry as of 2023-11-14 22:13:20 UTC',
      '',
      'table version                   1013   (OpenSIPS 4.0 expects 1013)',
      'rows read                          1',
      'loadable                           1',
      'rejected                           0',
      'kv_store warnings                  0',
      'duplicate contact ids              0',
      'ambiguous record labels            0',
      'expired rows                       0',
      '',
      'result: clean: OpenSIPS 4.0 loads all 1 row',
    ].join('\n'),
  );
});
