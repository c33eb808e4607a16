import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig } from '../../src/ops/config.js';

const base = { kafka: { brokers: ['127.0.0.1:9092'] }, targets: [{ name: 'main', db: 'postgres://u@h/db', release: '4.0' }] };

test('defaults are filled in', () => {
  assert.deepEqual(parseConfig(base, {}), {
    kafka: { brokers: ['127.0.0.1:9092'], clientId: 'ulbridge', connectTimeoutSeconds: 30, sessionTimeoutSeconds: 30 },
    log: { topic: 'ulbridge.registrations', partitions: 6, deadLetterTopic: 'ulbridge.dead-letters' },
    sources: [],
    targets: [
      {
        name: 'main',
        db: 'postgres://u@h/db',
        table: 'location',
        release: '4.0',
        hashSize: 9,
        useDomain: false,
        unsignedChar: false,
        timeZone: 'UTC',
        poolSize: 4,
        // Derived once, here: nothing downstream computes a default of its own.
        groupId: 'ulbridge-project-main',
        stateSchema: 'ulbridge_main',
      },
    ],
    reverse: [],
    http: { host: '127.0.0.1', port: 9464 },
  });
});

test('${VAR} references and ULBRIDGE_* overrides come from the environment', () => {
  const cfg = parseConfig(
    { ...base, targets: [{ ...base.targets[0], db: '${TARGET_DB}' }] },
    { TARGET_DB: 'postgres://x@y/z', ULBRIDGE_KAFKA_BROKERS: 'a:1, b:2', ULBRIDGE_HTTP_PORT: '0' },
  );
  assert.equal(cfg.targets[0]!.db, 'postgres://x@y/z');
  assert.deepEqual(cfg.kafka.brokers, ['a:1', 'b:2']);
  assert.equal(cfg.http.port, 0);
});

const src = { name: 'legacy', release: '2.1', topic: 'legacy.public.location' };
const rev = { name: 'rollback', target: 'main', topic: 'new.public.location', source: 'legacy', legacy: { db: 'mysql://root@h/opensips' } };

test('a reverse sync entry gets its defaults', () => {
  const cfg = parseConfig({ ...base, sources: [src], reverse: [rev] }, {});
  assert.deepEqual(cfg.reverse, [
    {
      ...rev,
      // The legacy registrar's release and zone are the source's (it captures this very table).
      legacy: { db: 'mysql://root@h/opensips', table: 'location', release: '2.1', useDomain: false, unsignedChar: false, timeZone: 'UTC' },
      groupId: 'ulbridge-reverse-rollback',
    },
  ]);
  assert.deepEqual(
    cfg.sources.map((s) => s.groupId),
    ['ulbridge-ingest-legacy'],
  );
  // Written back, the compiled config compiles to itself.
  assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(cfg)), {}), cfg);
});

test('targets may be PostgreSQL, MySQL or MariaDB databases', () => {
  const urls = [
    'postgres://u@h/db',
    'postgresql://u@h/db',
    'mysql://root:pw@db.example:3306/opensips',
    'mariadb://opensips@10.0.0.5/opensips',
  ];
  const cfg = parseConfig(
    { ...base, targets: urls.map((db, i) => ({ name: `t${i}`, db, release: '2.2', stateSchema: `ulbridge_t${i}` })) },
    {},
  );
  assert.deepEqual(
    cfg.targets.map((t) => [t.db, t.stateSchema]),
    urls.map((u, i) => [u, `ulbridge_t${i}`]),
  );
});

test('a reverse sync may read a MySQL or MariaDB target (its own writes are told by GTID)', () => {
  for (const db of ['mysql://root@h/db', 'mariadb://opensips@10.0.0.5/opensips']) {
    const cfg = parseConfig({ ...base, sources: [src], targets: [{ ...base.targets[0], db }], reverse: [rev] }, {});
    assert.equal(cfg.reverse[0]!.target, 'main');
    assert.equal(cfg.targets[0]!.db, db);
  }
});

const errors: Array<[string, unknown, string]> = [
  [
    'hash_size above 16',
    { ...base, targets: [{ ...base.targets[0], hashSize: 17 }] },
    'config targets[0].hashSize: Too big: expected number to be <=16',
  ],
  [
    '2.1 target',
    { ...base, targets: [{ ...base.targets[0], release: '2.1' }] },
    'config targets[0].release: must be a release with contact_id: 2.2, 2.3, 2.4, 3.x or 4.0',
  ],
  ['unknown key', { ...base, targets: [{ ...base.targets[0], hashsize: 9 }] }, 'config targets[0]: Unrecognized key: "hashsize"'],
  [
    'bad zone',
    { ...base, sources: [{ name: 's', release: '2.1', topic: 't', timeZone: 'Mars/Olympus' }] },
    'config sources[0].timeZone: must be an IANA time zone such as UTC or Europe/Berlin',
  ],
  [
    'unsupported target database',
    { ...base, targets: [{ ...base.targets[0], db: 'sqlite:///var/db/location.db' }] },
    'config targets[0].db: must be a postgres://, postgresql://, mysql:// or mariadb:// URL',
  ],
  [
    'state schema not an identifier',
    { ...base, targets: [{ ...base.targets[0], stateSchema: 'Ulbridge-Main' }] },
    'config targets[0].stateSchema: must be a lower-case identifier (a-z, 0-9, _, not starting with a digit, at most 63 characters)',
  ],
  [
    'unset variable',
    { ...base, targets: [{ ...base.targets[0], db: '${NOPE}' }] },
    'config targets[0].db: environment variable NOPE is not set',
  ],
  ['duplicate names', { ...base, targets: [base.targets[0], base.targets[0]] }, 'config targets: the name "main" is used twice'],
  [
    'reverse to an unknown target',
    { ...base, sources: [src], reverse: [{ ...rev, target: 'other' }] },
    'config reverse[0].target: no targets[] entry is named "other"',
  ],
  [
    'reverse to an unknown source',
    { ...base, sources: [src], reverse: [{ ...rev, source: 'old' }] },
    'config reverse[0].source: no sources[] entry is named "old"',
  ],
  [
    'reverse into a 2.2+ legacy table without its hash_size',
    { ...base, sources: [{ ...src, release: '2.3' }], reverse: [rev] },
    "config reverse[0].legacy.hashSize: is missing: the legacy table is release 2.3; give its registrar's usrloc hash_size (contact ids written back are allocated for it)",
  ],
  [
    'two reverse syncs of one target',
    { ...base, sources: [src], reverse: [rev, { ...rev, name: 'r2' }] },
    'config reverse[1].target: target "main" already has a reverse sync',
  ],
  [
    'reverse legacy URL',
    { ...base, sources: [src], reverse: [{ ...rev, legacy: { db: 'oracle://x' } }] },
    'config reverse[0].legacy.db: must be a postgres://, mysql:// or mariadb:// URL',
  ],
  ['nothing to run', { kafka: base.kafka }, 'config: nothing to run; add at least one entry to sources (ingest) or targets (projection)'],
  ['missing brokers', { targets: base.targets }, 'config kafka: is missing'],
  ['missing release', { ...base, targets: [{ name: 'main', db: 'postgres://u@h/db' }] }, 'config targets[0].release: is missing'],
  ['missing source topic', { ...base, sources: [{ name: 's', release: '2.1' }] }, 'config sources[0].topic: is missing'],
  [
    'unknown release',
    { ...base, sources: [{ ...src, release: '1.11' }] },
    'config sources[0].release: Invalid option: expected one of "2.1"|"2.2"|"2.3"|"2.4"|"3.x"|"4.0"',
  ],
  [
    'one rule for names',
    { ...base, sources: [{ ...src, name: 'legacy east' }] },
    'config sources[0].name: must be 1-48 letters, digits, _ . or -',
  ],
  [
    'one rule for references',
    { ...base, sources: [src], reverse: [{ ...rev, target: 'a/b' }] },
    'config reverse[0].target: must be 1-48 letters, digits, _ . or -',
  ],
  [
    'state schemas that normalise to one',
    {
      ...base,
      targets: [
        { ...base.targets[0], name: 'east-1' },
        { ...base.targets[0], name: 'east_1' },
      ],
    },
    'config targets[1]: targets "east-1" and "east_1" would keep their state in the same schema "ulbridge_east_1" of one database and skip each other\'s events; give one of them its own targets[].stateSchema',
  ],
  [
    'one MySQL state database for two targets',
    {
      ...base,
      targets: [
        { name: 'a', db: 'mysql://root@h/db1', release: '4.0', stateSchema: 'ulb' },
        { name: 'b', db: 'mysql://root@h:3306/db2', release: '4.0', stateSchema: 'ulb' },
      ],
    },
    'config targets[1]: targets "a" and "b" would keep their state in the same schema "ulb" of one database and skip each other\'s events; give one of them its own targets[].stateSchema',
  ],
  [
    'two stages in one consumer group',
    { ...base, sources: [{ ...src, groupId: 'g' }], targets: [{ ...base.targets[0], groupId: 'g' }] },
    'config targets[0].groupId: consumer group "g" is also sources[0].groupId\'s; each stage needs its own group (set a distinct groupId)',
  ],
];

test('one state schema name in two PostgreSQL databases does not collide', () => {
  const cfg = parseConfig(
    {
      ...base,
      targets: [
        { ...base.targets[0], name: 'east-1' },
        { ...base.targets[0], name: 'east_1', db: 'postgres://u@h/other' },
      ],
    },
    {},
  );
  assert.deepEqual(
    cfg.targets.map((t) => t.stateSchema),
    ['ulbridge_east_1', 'ulbridge_east_1'],
  );
});

for (const [name, raw, message] of errors) {
  test(`config error names the key: ${name}`, () => {
    assert.throws(
      () => parseConfig(raw, {}),
      (e: any) => e.code === 'CONFIG_INVALID' && e.message === message,
    );
  });
}

test('the example configs in docs/examples are valid', () => {
  const env = { ULBRIDGE_TARGET_DB: 'postgres://u@h/target', ULBRIDGE_LEGACY_DB: 'mysql://u@h/opensips' };
  for (const file of ['bridge.json', 'bridge-reverse.json']) {
    const cfg = loadConfig(fileURLToPath(new URL(`../../docs/examples/${file}`, import.meta.url)), env);
    assert.equal(cfg.targets[0]!.db, 'postgres://u@h/target', file);
  }
  assert.equal(
    loadConfig(fileURLToPath(new URL('../../docs/examples/bridge-reverse.json', import.meta.url)), env).reverse[0]!.legacy.db,
    'mysql://u@h/opensips',
  );
});

test('targets[].cluster: defaults, and every refusal names the key', () => {
  const cluster = {
    clusterId: 1,
    nodeId: 10,
    listen: 'bin:127.0.0.1:5599',
    opensips: '4.0',
    nodes: [{ nodeId: 1, url: 'bin:10.0.0.1:5555' }],
  };
  const cfg = parseConfig({ ...base, targets: [{ ...base.targets[0], cluster }] }, {});
  assert.deepEqual(cfg.targets[0]!.cluster, { ...cluster, pingIntervalMs: 1000, downAfterMs: 3000 });
  const refused: Array<[object, string]> = [
    [
      { ...cluster, opensips: '3.6' },
      "config targets[0].cluster.opensips: registrars of OpenSIPS 3.6 read a 3.x table, but the target's release is 4.0; usrloc cluster replication exists from OpenSIPS 3.4 on",
    ],
    [{ ...cluster, opensips: '3.3' }, 'config targets[0].cluster.opensips: Invalid option: expected one of "3.4"|"3.5"|"3.6"|"4.0"'],
    [
      { ...cluster, nodeId: 1 },
      "config targets[0].cluster: node id 1 is used twice (ulbridge's nodeId and every nodes[].nodeId must differ)",
    ],
    [{ ...cluster, listen: '127.0.0.1:5599' }, 'config targets[0].cluster.listen: must be bin:HOST:PORT'],
    [{ ...cluster, nodes: [] }, 'config targets[0].cluster.nodes: Too small: expected array to have >=1 items'],
    [
      { ...cluster, branchFlags: ['NAT'] },
      'config targets[0].cluster.branchFlags: OpenSIPS 4.0 replicates branch flags by name; drop branchFlags',
    ],
  ];
  for (const [c, message] of refused) {
    assert.throws(
      () => parseConfig({ ...base, targets: [{ ...base.targets[0], cluster: c }] }, {}),
      (e: any) => e.code === 'CONFIG_INVALID' && e.message === message,
      message,
    );
  }
});

test("kafka.sessionTimeoutSeconds: whole seconds from the broker's minimum (6) to 300", () => {
  assert.equal(parseConfig({ ...base, kafka: { ...base.kafka, sessionTimeoutSeconds: 6 } }, {}).kafka.sessionTimeoutSeconds, 6);
  assert.equal(parseConfig({ ...base, kafka: { ...base.kafka, sessionTimeoutSeconds: 300 } }, {}).kafka.sessionTimeoutSeconds, 300);
  const refused: Array<[number, string]> = [
    [5, 'config kafka.sessionTimeoutSeconds: Too small: expected number to be >=6'],
    [301, 'config kafka.sessionTimeoutSeconds: Too big: expected number to be <=300'],
    [7.5, 'config kafka.sessionTimeoutSeconds: Invalid input: expected int, received number'],
  ];
  for (const [value, message] of refused) {
    assert.throws(
      () => parseConfig({ ...base, kafka: { ...base.kafka, sessionTimeoutSeconds: value } }, {}),
      (e: any) => e.code === 'CONFIG_INVALID' && e.message === message,
      message,
    );
  }
});
