import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createLocationTableSql, versionRowSql, versionTableSql } from '../src/db/ddl.js';
import { postgresDialect } from '../src/db/dialect.js';
import { locationScanSql } from '../src/db/locationRows.js';
import { openDb } from '../src/db/open.js';
import { parseTableName } from '../src/db/table.js';
import { coreHash } from '../src/opensips/coreHash.js';
import { packContactId } from '../src/opensips/contactId.js';
import { slotCount } from '../src/opensips/hashSize.js';
import { releaseProfile } from '../src/opensips/releases.js';
import { runVerify } from '../src/verify/verify.js';
import { prng } from './aors.js';
import { timed, type BenchFigure, type BenchSection } from './section.js';

/**
 * verify throughput on a clean 4.0 table in PostgreSQL (1M rows at --scale 1: 500k AORs with two
 * contacts each, use_domain=1, hash_size 9, labels allocated per slot), beside the floor measured
 * in the same run on the same table and the same SELECT:
 *   - cursor floor: the same server-side cursor scan verify uses (batch 10000), rows only counted;
 *   - COPY floor:  COPY (same SELECT) TO STDOUT into a null sink.
 * Each is timed ROUNDS times, interleaved, and the best time of each is reported: on a shared
 * host the best run is the one least disturbed by other work.
 */

const HASH_SIZE = 9;
const BATCH = 10_000;
const ROUNDS = 5;
const COLUMNS =
  'contact_id, username, domain, contact, received, path, expires, q, callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, sip_instance, kv_store, attr';
const DOMAINS = ['example.com', 'voip.example.org', 'sip.carrier.example.net', 'pbx.example.de', 'tenant42.cloud.example'];
const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];

function* tsvRows(aors: number, now: number): Generator<string> {
  const rnd = prng(7);
  const slots = slotCount(HASH_SIZE);
  const nextLabel = new Uint32Array(slots);
  let chunk: string[] = [];
  for (let i = 0; i < aors; i++) {
    const user = i % 3 === 0 ? `+4930${String(10000000 + i)}` : `${FIRST[i % FIRST.length]}.${i}`;
    const domain = DOMAINS[i % DOMAINS.length]!;
    const full = coreHash(Buffer.from(`${user}@${domain}`, 'utf8'));
    const slot = full & (slots - 1);
    const rlabel = nextLabel[slot]!;
    nextLabel[slot] = rlabel + 1;
    let clabel = Math.floor(rnd() * 16000);
    for (let c = 0; c < 2; c++, clabel++) {
      const id = packContactId({ aorhash: full & 0xffff, rlabel, clabel });
      const received = (i + c) % 4 === 0 ? 'sip:203.0.113.7:5062' : '\\N';
      const path = i % 10 === 0 ? '<sip:edge1.example.net;lr>' : '\\N';
      const instance = i % 3 === 0 ? `<urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}>` : '\\N';
      chunk.push(
        `${id}\t${user}\t${domain}\tsip:${user}@198.51.100.${i % 250}:${5060 + c};transport=udp\t${received}\t${path}\t${now + 3600}\t1\t` +
          `${((i * 2654435761) >>> 0).toString(16)}-${c}@ua\t${100 + c}\t2024-01-01 00:00:00\t0\t\\N\tBench UA/1.0\tudp:192.0.2.10:5060\t\\N\t${instance}\t\\N\t\\N\n`,
      );
    }
    if (chunk.length >= 5000) {
      yield chunk.join('');
      chunk = [];
    }
  }
  if (chunk.length) yield chunk.join('');
}

const nullSink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

/** Creates the 4.0 table (and its version row) and loads `aors` x 2 clean rows with COPY. */
export async function loadBenchTable(admin: pg.Client, table: ReturnType<typeof parseTableName>, aors: number, now: number): Promise<void> {
  const profile = releaseProfile('4.0');
  for (const s of createLocationTableSql(profile, postgresDialect, table)) await admin.query(s);
  await admin.query(versionTableSql(postgresDialect));
  await admin.query(versionRowSql(profile, postgresDialect, table));
  await pipeline(Readable.from(tsvRows(aors, now)), admin.query(copyFrom(`COPY ${postgresDialect.table(table)} (${COLUMNS}) FROM STDIN`)));
  await admin.query(`VACUUM ANALYZE ${postgresDialect.table(table)}`);
}

export const section: BenchSection = {
  name: 'verify',
  async run(ctx) {
    const url = await ctx.postgresUrl();
    const profile = releaseProfile('4.0');
    const table = parseTableName(`ulbridge_bench_location_${process.pid}`);
    const aors = Math.round(500_000 * ctx.scale);
    const rows = aors * 2;
    const now = Math.floor(Date.now() / 1000);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const figures: BenchFigure[] = [];
    try {
      ctx.log(`verify: loading ${rows} rows into ${table.name} with COPY`);
      const load = await timed(() => loadBenchTable(admin, table, aors, now));
      const size = await admin.query<{ b: string }>(`SELECT pg_total_relation_size('${table.name}')::text AS b`);
      figures.push({
        figure: 'table load (COPY FROM + VACUUM ANALYZE)',
        value: rows / load.seconds,
        unit: 'rows/s',
        note: `${rows} rows, ${(Number(size.rows[0]!.b) / 2 ** 20).toFixed(0)} MiB with index`,
      });

      const sql = locationScanSql(postgresDialect, profile, table);
      const db = await openDb(url);
      const floorCursor = async (): Promise<number> => {
        let n = 0;
        for await (const batch of db.stream(sql, [], BATCH)) n += batch.length;
        return n;
      };
      const floorCopy = async (): Promise<number> => db.copyOut!(sql, nullSink());
      let peakRss = 0;
      const verifyOnce = async (): Promise<number> => {
        const base = process.memoryUsage.rss();
        const sampler = setInterval(() => {
          peakRss = Math.max(peakRss, process.memoryUsage.rss() - base);
        }, 20);
        try {
          const r = await runVerify({
            db: url,
            table: table.name,
            release: '4.0',
            hashSize: HASH_SIZE,
            useDomain: true,
            signedness: 'signed',
            timezone: 'UTC',
            now,
            details: 0,
            batchSize: BATCH,
          });
          if (!r.clean || r.rowsRead !== rows)
            throw new Error(`bench table did not verify clean: ${JSON.stringify({ rowsRead: r.rowsRead, findings: r.findings })}`);
          return r.rowsRead;
        } finally {
          clearInterval(sampler);
        }
      };

      ctx.log('verify: warm-up scan');
      await floorCursor();
      const best = { cursor: Infinity, copy: Infinity, verify: Infinity };
      let copyBytes = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        ctx.log(`verify: round ${round}/${ROUNDS}`);
        const c = await timed(floorCursor);
        if (c.result !== rows) throw new Error(`cursor floor read ${c.result} rows, expected ${rows}`);
        best.cursor = Math.min(best.cursor, c.seconds);
        const p = await timed(floorCopy);
        copyBytes = p.result;
        best.copy = Math.min(best.copy, p.seconds);
        const v = await timed(verifyOnce);
        best.verify = Math.min(best.verify, v.seconds);
      }
      await db.close();
      const rate = (s: number): number => rows / s;
      figures.push(
        {
          figure: 'floor: cursor scan (same SELECT)',
          value: rate(best.cursor),
          unit: 'rows/s',
          note: `pg-cursor, batch ${BATCH}, best of ${ROUNDS}`,
        },
        {
          figure: 'floor: COPY (same SELECT) TO STDOUT',
          value: rate(best.copy),
          unit: 'rows/s',
          note: `${(copyBytes / 2 ** 20).toFixed(0)} MiB to a null sink, best of ${ROUNDS}`,
        },
        {
          figure: 'verify (full report)',
          value: rate(best.verify),
          unit: 'rows/s',
          note: `scan + simulate + duplicate/label GROUP BY, best of ${ROUNDS}`,
        },
        { figure: 'verify / cursor floor', value: best.cursor / best.verify, unit: 'ratio', note: 'aim >= 0.50' },
        { figure: 'verify / COPY floor', value: best.copy / best.verify, unit: 'ratio' },
        { figure: 'verify peak RSS growth', value: peakRss / 2 ** 20, unit: 'MiB', note: `max RSS increase while verifying ${rows} rows` },
      );
      return figures;
    } finally {
      await admin.query(`DROP TABLE IF EXISTS ${postgresDialect.table(table)}`).catch(() => {});
      await admin.query(`DELETE FROM version WHERE table_name = '${table.name}'`).catch(() => {});
      await admin.end();
    }
  },
};
