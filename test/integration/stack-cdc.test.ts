/**
 * Real CDC through the shared stack: OpenSIPS `location` tables (2.1 = version 1009 and
 * 2.4+ = version 1013) in PostgreSQL and MariaDB, Debezium connectors registered through Kafka
 * Connect, and the exact change events read back from Kafka.
 *
 * Each table gets two connectors on the same changes: one with JSON schemas off (key and value),
 * one with schemas on. With ULBRIDGE_CAPTURE_FIXTURES=1 the events are written to
 * test/fixtures/debezium/ (see the README there).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deleteConnector, registerConnector, type ConnectorSpec } from '../../src/stack/connectors.js';
import { readTopic, type TopicRecord } from '../support/kafka.js';
import {
  connectUrl,
  freshMariaDb,
  freshPostgresDb,
  kafkaBrokers,
  loadDdl,
  stackAvailable,
  withMysql,
  withPg,
  type FreshDb,
} from '../support/services.js';

const skip = stackAvailable() ? false : 'needs the stack: run via `npm test`';
const CAPTURE = process.env.ULBRIDGE_CAPTURE_FIXTURES === '1';
const FIXTURES = fileURLToPath(new URL('../fixtures/debezium/', import.meta.url));

type Dialect = 'postgres' | 'mariadb';
type Release = '2.1' | '2.4';
type Row = Record<string, string | number | null>;

/** Local DATETIME text -> what Debezium emits: PostgreSQL micros (MicroTimestamp), MariaDB millis (Timestamp). */
function dt(text: string, dialect: Dialect): number {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text)!;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return dialect === 'postgres' ? ms * 1000 : ms;
}

const EXPIRES_21 = '2024-05-01 13:00:00';
const EXPIRES_21_NEW = '2024-05-01 14:00:00';
const EXPIRES_24 = 1714568400;
const EXPIRES_24_NEW = 1714572000;
const MODIFIED = '2024-05-01 12:00:00';
const MODIFIED_NEW = '2024-05-01 12:30:00';

/** Registrations as OpenSIPS writes them (expires filled in per release). */
function bindings(release: Release): Row[] {
  const base: Row[] = [
    {
      username: 'alice',
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5060;transport=udp',
      received: 'sip:198.51.100.7:5062',
      path: '<sip:edge.example.com;lr>',
      q: 0.5,
      callid: 'a84b4c76e66710@pc33.example.com',
      cseq: 10,
      last_modified: MODIFIED,
      flags: 0,
      cflags: 'NAT',
      user_agent: 'Linphone/5.2.0',
      socket: 'udp:192.0.2.1:5060',
      methods: 8191,
      sip_instance: '<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>',
      attr: null,
    },
    {
      username: 'bob',
      domain: 'example.com',
      contact: 'sip:bob@192.0.2.20:5060',
      received: null,
      path: null,
      q: 1,
      callid: 'bob-call-1',
      cseq: 1,
      last_modified: MODIFIED,
      flags: 0,
      cflags: null,
      user_agent: 'Zoiper',
      socket: null,
      methods: null,
      sip_instance: null,
      attr: null,
    },
    {
      username: 'jürgen',
      domain: 'example.org',
      contact: 'sip:j%C3%BCrgen@203.0.113.5:5080',
      received: null,
      path: null,
      q: 1,
      callid: 'carol-call-1',
      cseq: 2,
      last_modified: MODIFIED,
      flags: 0,
      cflags: null,
      user_agent: 'MicroSIP/3.21',
      socket: null,
      methods: null,
      sip_instance: null,
      attr: 'x=1',
    },
  ];
  return base.map((r, i) =>
    release === '2.1' ? { ...r, expires: EXPIRES_21 } : { ...r, expires: EXPIRES_24, kv_store: i === 0 ? '{"ua":"linphone"}' : null },
  );
}

/** Columns in table order, as Debezium lists them. */
function columns(release: Release): string[] {
  const key = release === '2.1' ? 'id' : 'contact_id';
  const mid = [
    'username',
    'domain',
    'contact',
    'received',
    'path',
    'expires',
    'q',
    'callid',
    'cseq',
    'last_modified',
    'flags',
    'cflags',
    'user_agent',
    'socket',
    'methods',
    'sip_instance',
  ];
  return [key, ...mid, ...(release === '2.4' ? ['kv_store'] : []), 'attr'];
}

/** The row image Debezium should emit for `row` with primary key `id`. */
function image(dialect: Dialect, release: Release, id: number, row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columns(release)) {
    if (c === 'id' || c === 'contact_id') out[c] = id;
    else if (c === 'last_modified' || (c === 'expires' && release === '2.1')) out[c] = dt(row[c] as string, dialect);
    else out[c] = row[c] ?? null;
  }
  return out;
}

async function exec(dialect: Dialect, url: string, sql: string, params: Array<string | number | null>): Promise<void> {
  if (dialect === 'postgres') {
    let i = 0;
    await withPg(url, (c) =>
      c.query(
        sql.replace(/\?/g, () => `$${++i}`),
        params,
      ),
    );
  } else {
    await withMysql(url, (c) => c.query(sql, params));
  }
}

async function insert(dialect: Dialect, url: string, row: Row): Promise<void> {
  const cols = Object.keys(row);
  await exec(
    dialect,
    url,
    `INSERT INTO location (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    cols.map((c) => row[c]!),
  );
}

interface Variant {
  label: 'noschemas' | 'schemas';
  schemas: { key: boolean; value: boolean };
}
const VARIANTS: Variant[] = [
  { label: 'noschemas', schemas: { key: false, value: false } },
  { label: 'schemas', schemas: { key: true, value: true } },
];

interface Envelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: Record<string, unknown>;
  op: string;
  ts_ms: number;
}

interface ConnectSchema {
  type: string;
  name?: string;
  optional?: boolean;
  field?: string;
  fields?: ConnectSchema[];
}

function payloadOf(value: unknown, withSchema: boolean): unknown {
  if (!withSchema) return value;
  assert.ok(value && typeof value === 'object' && 'schema' in value && 'payload' in value, 'schema-enabled JSON has schema + payload');
  return (value as { payload: unknown }).payload;
}

function capture(dialect: Dialect, release: Release, variant: Variant, name: string, rec: TopicRecord, topic: string): void {
  if (!CAPTURE) return;
  mkdirSync(FIXTURES, { recursive: true });
  const doc = { topic, key: rec.key === null ? null : JSON.parse(rec.key), value: rec.value === null ? null : JSON.parse(rec.value) };
  writeFileSync(`${FIXTURES}${dialect}-${release}-${variant.label}-${name}.json`, `${JSON.stringify(doc, null, 2)}\n`);
}

describe('Debezium change events from OpenSIPS location tables', { skip }, () => {
  const cases: Array<[Dialect, Release]> = [
    ['postgres', '2.1'],
    ['postgres', '2.4'],
    ['mariadb', '2.1'],
    ['mariadb', '2.4'],
  ];
  const cleanups: Array<() => Promise<void>> = [];
  const configs: Record<string, Record<string, string>> = {};

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => console.error('cleanup:', e));
    if (CAPTURE) writeFileSync(`${FIXTURES}connectors.json`, `${JSON.stringify(configs, null, 2)}\n`);
  });

  for (const [dialect, release] of cases) {
    test(`${dialect} ${release}: snapshot, insert, update, delete, tombstone`, { timeout: 180_000 }, async () => {
      const db: FreshDb = dialect === 'postgres' ? await freshPostgresDb('cdc') : await freshMariaDb('cdc');
      cleanups.push(() => db.drop());
      await loadDdl(db.url, dialect === 'postgres' ? 'postgres' : 'mysql', release);
      const [alice, bob, carol] = bindings(release) as [Row, Row, Row];
      const key = release === '2.1' ? 'id' : 'contact_id';

      // Rows present before the connector exists: they arrive as snapshot reads (op r).
      await insert(dialect, db.url, alice);
      await insert(dialect, db.url, bob);

      const tag = `${dialect === 'postgres' ? 'pg' : 'maria'}${release.replace('.', '')}`;
      const specs = VARIANTS.map((v): ConnectorSpec => ({
        name: `cdc-${tag}-${v.label}-${db.name.slice(-6)}`,
        kind: dialect,
        url: db.url,
        table: 'location',
        kafkaBrokers: kafkaBrokers(),
        schemas: v.schemas,
      }));
      const registered = [];
      for (const spec of specs) {
        const r = await registerConnector(connectUrl(), spec, { waitForSnapshot: true, timeoutMs: 120_000 });
        registered.push(r);
        cleanups.push(() => deleteConnector(connectUrl(), spec.name, { cleanup: spec }));
        configs[`${dialect}-${release}-${spec.schemas!.value ? 'schemas' : 'noschemas'}`] = { ...r.config };
      }

      // Streamed changes.
      const mod = release === '2.1' ? { expires: EXPIRES_21_NEW } : { expires: EXPIRES_24_NEW };
      await insert(dialect, db.url, carol);
      await exec(dialect, db.url, `UPDATE location SET expires = ?, cseq = cseq + 1, last_modified = ? WHERE ${key} = ?`, [
        mod.expires,
        MODIFIED_NEW,
        1,
      ]);
      await exec(dialect, db.url, `DELETE FROM location WHERE ${key} = ?`, [2]);

      const aliceAfter = { ...alice, ...mod, cseq: (alice.cseq as number) + 1, last_modified: MODIFIED_NEW };
      const expected: Array<{
        op: string;
        key: number;
        before: Record<string, unknown> | null;
        after: Record<string, unknown> | null;
        snapshot: string;
      }> = [
        { op: 'r', key: 1, before: null, after: image(dialect, release, 1, alice), snapshot: 'first' },
        { op: 'r', key: 2, before: null, after: image(dialect, release, 2, bob), snapshot: 'last' },
        { op: 'c', key: 3, before: null, after: image(dialect, release, 3, carol), snapshot: 'false' },
        { op: 'u', key: 1, before: image(dialect, release, 1, alice), after: image(dialect, release, 1, aliceAfter), snapshot: 'false' },
        { op: 'd', key: 2, before: image(dialect, release, 2, bob), after: null, snapshot: 'false' },
      ];

      for (const [i, reg] of registered.entries()) {
        const variant = VARIANTS[i]!;
        const recs = await readTopic(kafkaBrokers(), reg.topic, expected.length + 1, { timeoutMs: 60_000 });
        assert.equal(
          recs.length,
          expected.length + 1,
          `${reg.topic}: ${expected.length} change events and one tombstone, got ${recs.length}`,
        );
        for (const [j, exp] of expected.entries()) {
          const rec = recs[j]!;
          const k = payloadOf(JSON.parse(rec.key!), variant.schemas.key);
          assert.deepEqual(k, { [key]: exp.key }, `${reg.topic}#${j} key`);
          const env = payloadOf(JSON.parse(rec.value!), variant.schemas.value) as Envelope;
          assert.equal(env.op, exp.op, `${reg.topic}#${j} op`);
          assert.deepEqual(env.before, exp.before, `${reg.topic}#${j} (${exp.op}) before`);
          assert.deepEqual(env.after, exp.after, `${reg.topic}#${j} (${exp.op}) after`);
          assert.equal(env.source.table, 'location');
          assert.equal(env.source.db, db.name);
          assert.equal(env.source.connector, dialect === 'postgres' ? 'postgresql' : 'mariadb');
          assert.equal(env.source.name, reg.config['topic.prefix']);
          assert.equal(env.source.snapshot, exp.snapshot, `${reg.topic}#${j} source.snapshot`);
          if (dialect === 'postgres') assert.equal(env.source.schema, 'public');
          assert.equal(typeof env.ts_ms, 'number');
        }
        const tomb = recs[expected.length]!;
        assert.deepEqual(payloadOf(JSON.parse(tomb.key!), variant.schemas.key), { [key]: 2 }, 'tombstone key = deleted row key');
        assert.equal(tomb.value, null, 'tombstone after delete');

        if (variant.schemas.value)
          assertSchemas(dialect, release, JSON.parse(recs[0]!.value!) as { schema: ConnectSchema }, reg.config['topic.prefix']!, db.name);

        capture(dialect, release, variant, 'r', recs[0]!, reg.topic);
        capture(dialect, release, variant, 'c', recs[2]!, reg.topic);
        capture(dialect, release, variant, 'u', recs[3]!, reg.topic);
        capture(dialect, release, variant, 'd', recs[4]!, reg.topic);
        capture(dialect, release, variant, 'tombstone', tomb, reg.topic);
      }
    });
  }
});

/** The Connect schema of the row: the semantic types a decoder relies on. */
function assertSchemas(dialect: Dialect, release: Release, value: { schema: ConnectSchema }, prefix: string, dbName: string): void {
  const ns = dialect === 'postgres' ? `${prefix}.public.location` : `${prefix}.${dbName}.location`;
  assert.equal(value.schema.name, `${ns}.Envelope`);
  const afterSchema = value.schema.fields!.find((f) => f.field === 'after')!;
  assert.equal(afterSchema.name, `${ns}.Value`);
  const type = (col: string): string => {
    const f = afterSchema.fields!.find((x) => x.field === col);
    assert.ok(f, `column ${col} in the schema`);
    return f.name ? `${f.type}/${f.name}` : f.type;
  };
  const ts = dialect === 'postgres' ? 'int64/io.debezium.time.MicroTimestamp' : 'int64/io.debezium.time.Timestamp';
  assert.deepEqual(
    afterSchema.fields!.map((f) => f.field),
    columns(release),
  );
  assert.equal(type('last_modified'), ts);
  if (release === '2.1') {
    assert.equal(type('id'), dialect === 'postgres' ? 'int32' : 'int64'); // MariaDB INT UNSIGNED widens to int64
    assert.equal(type('expires'), ts);
  } else {
    assert.equal(type('contact_id'), 'int64');
    assert.equal(type('expires'), dialect === 'postgres' ? 'int32' : 'int64');
    assert.equal(type('kv_store'), 'string');
  }
  assert.equal(type('username'), 'string');
  assert.equal(type('cseq'), 'int32');
}
