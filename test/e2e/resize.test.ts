import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { registerConnector, deleteConnector } from '../../src/stack/index.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { Workload, type LegacyRow } from '../../src/demo/workload.js';
import { LEGACY_COLUMNS } from '../../src/demo/legacyTable.js';
import { aorBytes } from '../../src/opensips/aor.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { silentLogger } from '../../src/ops/logger.js';
import { startBridge, type Bridge } from '../../src/service/bridge.js';
import { runDiff, type DiffReport } from '../../src/verify/diff.js';
import { runVerify } from '../../src/verify/verify.js';
import type { VerifyReport } from '../../src/verify/report.js';
import { cli } from '../support/cli.js';
import { connectUrl, freshPostgresDb, kafkaBrokers, type FreshDb } from '../support/services.js';

// Issue 5, resize: a 2.2+ table (4.0, PostgreSQL) written like a registrar with hash_size 12 (record
// labels counted per slot, as usrloc does) plus rows a DB-only registrar inserted with plain
// sequence ids, captured by Debezium and projected by the bridge into a table for hash_size 8, and
// from the same registration log back into one for hash_size 12.

const AORS = 900;
const SECOND_CONTACT_EVERY = 3; // AORs 0, 3, 6, ... register two contacts
const DB_ONLY = 25; // rows whose contact_id a DB-only registrar took from the sequence (1..25)
const EXPIRED = 10; // registrar rows already expired (kept in the table until its timer runs)
const PERMANENT = 5; // expires = 0

interface SourceRow extends LegacyRow {
  contactId: bigint;
  /** Loadable as written (the aorhash matches); false for the DB-only rows. */
  valid: boolean;
  aorhash: number;
  rlabel: number;
}

let source: FreshDb;
let target8: FreshDb;
let target12: FreshDb;
let rows: SourceRow[];
let bridge: Bridge | null = null;
let connectorName = '';
let cdcTopic = '';
const tag = `e2e_resize_${process.pid}`;
const now = Math.floor(Date.now() / 1000);

const full = (username: string): number => coreHash(aorBytes(username, null, { useDomain: false }), 'signed');

/** Rows as a 4.0 registrar with hash_size 12 writes them, then the DB-only rows. */
function buildRows(): SourceRow[] {
  const w = new Workload(12);
  const nextLabel = new Map<number, number>(); // slot (hash_size 12) -> next record label
  const out: SourceRow[] = [];
  for (let n = 0; n < AORS; n++) {
    const contacts = n % SECOND_CONTACT_EVERY === 0 ? 2 : 1;
    const first = w.registration(n);
    const username = first.username.toLowerCase(); // case_sensitive=0: the registrar stores it lower-cased
    const h = full(username);
    const slot12 = h & 4095;
    const rlabel = nextLabel.get(slot12) ?? 0;
    nextLabel.set(slot12, rlabel + 1);
    for (let clabel = 0; clabel < contacts; clabel++) {
      const r = clabel === 0 ? first : w.registration(n);
      out.push({
        ...r,
        username,
        aorhash: h & 0xffff,
        rlabel,
        valid: true,
        contactId: packContactId({ aorhash: h & 0xffff, rlabel, clabel }),
      });
    }
  }
  for (let i = 0; i < EXPIRED; i++) out[i * 7]!.expires = now - 100 - i;
  for (let i = 0; i < PERMANENT; i++) out[i * 7 + 3]!.expires = 0;
  for (let i = 1; i <= DB_ONLY; i++) {
    const r = w.registration(AORS + i);
    const username = `dbonly${i}`;
    out.push({
      ...r,
      username,
      contact: `sip:${username}@10.9.9.${i}:5060`,
      aorhash: full(username) & 0xffff,
      rlabel: 0,
      valid: false,
      contactId: BigInt(i),
    });
  }
  return out;
}

async function insertRows(url: string, list: SourceRow[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const cols = ['contact_id', ...LEGACY_COLUMNS];
    const types = [
      'int8',
      'text',
      'text',
      'text',
      'text',
      'text',
      'int4',
      'float4',
      'text',
      'int4',
      'timestamp',
      'int4',
      'text',
      'text',
      'text',
      'int4',
      'text',
      'text',
    ];
    const lm = (u: number): string => new Date(u * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const values = [
      list.map((r) => r.contactId.toString()),
      list.map((r) => r.username),
      list.map((r) => r.domain),
      list.map((r) => r.contact),
      list.map((r) => r.received),
      list.map((r) => r.path),
      list.map((r) => r.expires),
      list.map((r) => r.q),
      list.map((r) => r.callid),
      list.map((r) => r.cseq),
      list.map((r) => lm(r.lastModified)),
      list.map((r) => r.flags),
      list.map((r) => r.cflags),
      list.map((r) => r.userAgent),
      list.map((r) => r.socket),
      list.map((r) => r.methods),
      list.map((r) => r.sipInstance),
      list.map((r) => r.attr),
    ];
    await c.query(
      `INSERT INTO location (${cols.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`,
      values,
    );
  } finally {
    await c.end();
  }
}

/** What verify must report for the source table at a hash_size: AORs sharing a label in one slot. */
function expectedSharedLabels(hashSize: number): { labels: number; aors: number } {
  const groups = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.valid) continue; // rejected rows are not loaded, so they share nothing
    const key = `${r.aorhash & ((1 << hashSize) - 1)}:${r.rlabel}`;
    const g = groups.get(key) ?? new Set<string>();
    g.add(r.username);
    groups.set(key, g);
  }
  let labels = 0;
  let aors = 0;
  for (const g of groups.values()) {
    if (g.size > 1) {
      labels++;
      aors += g.size;
    }
  }
  return { labels, aors };
}

function config(targets: Array<{ name: string; db: string; hashSize: number }>): Config {
  return parseConfig(
    {
      kafka: { brokers: kafkaBrokers() },
      log: { topic: `${tag}.registrations`, partitions: 4, deadLetterTopic: `${tag}.dead-letters` },
      sources: [{ name: 'reg12', release: '4.0', topic: cdcTopic, groupId: `${tag}-ingest` }],
      targets: targets.map((t) => ({ ...t, release: '4.0', table: 'location', groupId: `${tag}-${t.name}` })),
      http: { port: 0 },
    },
    {},
  );
}

const verify = (url: string, hashSize: number): Promise<VerifyReport> =>
  runVerify({
    db: url,
    table: 'location',
    release: '4.0',
    hashSize,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: Math.floor(Date.now() / 1000),
    details: 3,
    batchSize: 5000,
  });

const diff = (url: string, hashSize: number): Promise<DiffReport> =>
  runDiff({
    source: { url: source.url, table: 'location', release: '4.0', timeZone: 'UTC', caseSensitive: false },
    target: { url, table: 'location', release: '4.0', timeZone: 'UTC', caseSensitive: true },
    hashSize,
    useDomain: false,
    signedness: 'signed',
    now: Math.floor(Date.now() / 1000),
    details: 3,
  });

async function waitForEqual(url: string, hashSize: number, timeoutMs = 180_000): Promise<DiffReport> {
  const deadline = Date.now() + timeoutMs;
  let last: DiffReport;
  do {
    last = await diff(url, hashSize);
    if (last.equal) return last;
    await new Promise((r) => setTimeout(r, 1000));
  } while (Date.now() < deadline);
  throw new Error(
    `target did not converge: ${JSON.stringify({ onlyInSource: last.onlyInSource, onlyInTarget: last.onlyInTarget, examples: last.examples })}`,
  );
}

function assertClean(r: VerifyReport, rowsExpected: number): void {
  assert.equal(r.rejected.total, 0, JSON.stringify(r.details?.rejected));
  assert.equal(r.ambiguousRecordLabels.labels, 0, JSON.stringify(r.details?.ambiguousRecordLabels));
  assert.equal(r.duplicateContactIds.ids, 0);
  assert.equal(r.rowsRead, rowsExpected);
  assert.equal(r.clean, true);
}

const LIVE = AORS + Math.ceil(AORS / SECOND_CONTACT_EVERY) - EXPIRED + DB_ONLY;

before(async () => {
  rows = buildRows();
  assert.equal(new Set(rows.map((r) => r.contactId)).size, rows.length, 'ids are unique as written');
  assert.ok(
    rows.filter((r) => !r.valid).every((r) => r.aorhash !== 0),
    'no DB-only AOR happens to hash to aorhash 0',
  );
  source = await freshPostgresDb('resize_src');
  await createLocationTable(source.url, '4.0');
  await insertRows(source.url, rows);
  target8 = await freshPostgresDb('resize_h8');
  await createLocationTable(target8.url, '4.0');
  target12 = await freshPostgresDb('resize_h12');
  await createLocationTable(target12.url, '4.0');
  const connector = await registerConnector(connectUrl(), {
    name: tag,
    kind: 'postgres',
    url: source.url,
    table: 'public.location',
    kafkaBrokers: kafkaBrokers(),
  });
  connectorName = connector.name;
  cdcTopic = connector.topic;
});

after(async () => {
  await bridge?.stop();
  if (connectorName) await deleteConnector(connectUrl(), connectorName).catch(() => undefined);
});

test('the source does not verify clean for hash_size 8: the DB-only ids, and labels shared once 16 slots merge into one', async () => {
  const at12 = await verify(source.url, 12);
  assert.equal(at12.rowsRead, rows.length);
  assert.equal(at12.rejected.total, DB_ONLY);
  assert.equal(at12.rejected.byReason.aorhashMismatch, DB_ONLY, 'plain sequence ids carry aorhash 0');
  assert.equal(at12.ambiguousRecordLabels.labels, 0, 'labels were allocated per slot of hash_size 12');
  assert.equal(at12.expired, EXPIRED);

  const at8 = await verify(source.url, 8);
  const shared = expectedSharedLabels(8);
  assert.ok(shared.labels > 50, `the fixture must make merged slots collide (got ${shared.labels})`);
  assert.equal(at8.rejected.total, DB_ONLY);
  assert.equal(at8.rejected.byReason.aorhashMismatch, DB_ONLY);
  assert.deepEqual({ labels: at8.ambiguousRecordLabels.labels, aors: at8.ambiguousRecordLabels.aors }, shared);
  assert.equal(at8.clean, false);
  // The reason, on one example: two AORs of one hash_size-8 slot with the same record label.
  const ex = at8.details!.ambiguousRecordLabels[0]!;
  assert.ok(ex.aorCount >= 2);
  assert.equal(new Set(ex.aors.map((a) => a.aor)).size, ex.aors.length);
});

test('projected for hash_size 8: verify clean, diff equal to the source (slot by slot), CLI exit 0', async () => {
  bridge = await startBridge(config([{ name: 'h8', db: target8.url, hashSize: 8 }]), silentLogger, { http: false });
  const d = await waitForEqual(target8.url, 8);
  assert.equal(d.source.rows, rows.length);
  assert.equal(d.source.expired, EXPIRED);
  assert.equal(d.source.live, LIVE);
  assert.equal(d.target.live, LIVE, 'the DB-only rows are bridged too, with fresh ids');
  assert.equal(d.target.expired, 0, 'expired bindings are not written');
  assert.equal(d.target.rows, LIVE);
  assert.deepEqual([d.onlyInSource, d.onlyInTarget, d.changed, d.perSlot.differing], [0, 0, 0, 0]);
  assert.deepEqual(d.perSlot.target, d.perSlot.source);
  assertClean(await verify(target8.url, 8), LIVE);

  const run = await cli([
    'diff',
    '--source',
    source.url,
    '--source-release',
    '4.0',
    '--target',
    target8.url,
    '--target-release',
    '4.0',
    '--hash-size',
    '8',
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.equal(doc.equal, true);
  assert.deepEqual(
    {
      live: doc.source.live,
      expired: doc.source.expired,
      targetLive: doc.target.live,
      slots: doc.perSlot.slots,
      differing: doc.perSlot.differing,
    },
    { live: LIVE, expired: EXPIRED, targetLive: LIVE, slots: 256, differing: 0 },
  );
});

test('resized back to hash_size 12 from the same log: verify clean, diff equal', async () => {
  await bridge!.stop();
  bridge = await startBridge(
    config([
      { name: 'h8', db: target8.url, hashSize: 8 },
      { name: 'h12', db: target12.url, hashSize: 12 },
    ]),
    silentLogger,
    { http: false },
  );
  const d = await waitForEqual(target12.url, 12);
  assert.equal(d.target.live, LIVE);
  assert.equal(d.perSlot.slots, 4096);
  assert.equal(d.perSlot.differing, 0);
  assertClean(await verify(target12.url, 12), LIVE);
  // The new ids are valid for any hash_size: record labels are unique across the whole target.
  assertClean(await verify(target12.url, 8), LIVE);
  assert.equal((await diff(target8.url, 8)).equal, true, 'the hash_size 8 target is still equal');
});
