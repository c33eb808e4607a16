/**
 * Opt-in, against real OpenSIPS builds (issue 12): a caching registrar (usrloc full-sharing,
 * load-from-sql, skip_replicated_db_ops 1) runs on the bridged target table, with ulbridge as a
 * node of its usrloc cluster. A contact registered, refreshed and removed at the legacy registrar
 * (its 2.1 table, captured by Debezium) must reach the running registrar's memory (MI ul_dump,
 * SIP lookup()) with the contact id of its target row, with no restart; a registrar killed and
 * restarted must hold exactly the table again; the table keeps one row per binding and verifies
 * clean. Prints every latency (legacy commit -> registrar memory) and the ul_dump counts.
 *
 *   OPENSIPS_HOME=/path/to/installs npm test -- test/e2e/cluster-push.test.ts
 *
 * OPENSIPS_HOME is one install (HOME/sbin/opensips) or a folder of installs (HOME/<x>/sbin/opensips),
 * each built with db_postgres, clusterer, proto_bin and mi_fifo; 3.4-3.6 and 4.0 are supported.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { openDb } from '../../src/db/open.js';
import { parseConfig } from '../../src/ops/config.js';
import { readPushState } from '../../src/push/pushState.js';
import { runVerify } from '../../src/verify/verify.js';
import { freshPostgresDb, kafkaBrokers, type FreshDb } from '../support/services.js';
import { freePort } from '../support/net.js';
import { mi, modulesDir, newNode, nodeCfg, type Node } from '../support/opensipsNode.js';
import { SipClient } from '../support/sipClient.js';
import { legacyScenario, spawnBridge, waitForEqual, type Scenario } from './harness.js';

const HOME = process.env.OPENSIPS_HOME;

interface Install {
  home: string;
  /** "3.6.8" */
  version: string;
  /** "3.6" */
  line: '3.4' | '3.5' | '3.6' | '4.0';
}

function installs(home: string): Install[] {
  const homes = existsSync(join(home, 'sbin/opensips'))
    ? [home]
    : readdirSync(home)
        .map((d) => join(home, d))
        .filter((d) => existsSync(join(d, 'sbin/opensips')));
  return homes.map((h) => {
    const out = execFileSync(join(h, 'sbin/opensips'), ['-V'], { encoding: 'utf8' });
    const m = /opensips (\d+)\.(\d+)\.(\d+)/.exec(out);
    if (!m) throw new Error(`${h}/sbin/opensips -V printed no version: ${out}`);
    const line = `${m[1]}.${m[2]}`;
    if (!['3.4', '3.5', '3.6', '4.0'].includes(line)) throw new Error(`${h}: OpenSIPS ${line} is not a release the cluster push supports`);
    return { home: h, version: `${m[1]}.${m[2]}.${m[3]}`, line: line as Install['line'] };
  });
}

if (!HOME) {
  test(
    'cluster push into a running OpenSIPS registrar',
    { skip: 'OPENSIPS_HOME is not set (a folder of OpenSIPS 3.4-3.6/4.0 installs): skipped' },
    () => {},
  );
} else {
  for (const inst of installs(HOME)) scenario(inst);
}

/** Every contact in an MI ul_dump reply: AOR, contact URI, contact id, CSeq, Call-ID. */
function ulContacts(dump: unknown): Array<{ aor: string; contact: string; id: string; cseq: number; callid: string; expires: unknown }> {
  const out: Array<{ aor: string; contact: string; id: string; cseq: number; callid: string; expires: unknown }> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.AOR === 'string' && Array.isArray(o.Contacts)) {
        for (const c of o.Contacts as Array<Record<string, unknown>>) {
          out.push({
            aor: o.AOR,
            contact: String(c.Contact),
            id: String(c.ContactID),
            cseq: Number(c.Cseq),
            callid: String(c.Callid),
            expires: c.Expires,
          });
        }
      } else Object.values(o).forEach(walk);
    }
  };
  walk(dump);
  return out;
}

function scenario(inst: Install): void {
  const useDomain = inst.line === '4.0'; // usrloc's default in 4.0 (0 before)
  const release = inst.line === '4.0' ? '4.0' : '3.x';
  describe(`cluster push into a running OpenSIPS ${inst.version} caching registrar`, { timeout: 600_000 }, () => {
    let s: Scenario;
    let target: FreshDb;
    let targetClient: pg.Client;
    let bridge: ChildProcess | undefined;
    let registrar: ChildProcess | undefined;
    const regLog: Buffer[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'ulbridge-push-e2e-'));
    let node: Node;
    let sip: SipClient;
    let ulbridgePort: number;
    const tag = `push${inst.line.replace('.', '')}`;
    const latencies: Array<[string, number]> = [];
    /** legacy commit -> target row committed, per operation (the pipeline before the push). */
    const tableLatencies: Array<[string, number]> = [];

    const dump = async (): Promise<ReturnType<typeof ulContacts>> => ulContacts(await mi(node, dir, 'ul_dump'));
    const tableIds = async (): Promise<Map<string, string>> => {
      const { rows } = await targetClient.query<{ contact: string; id: string }>('SELECT contact, contact_id::text AS id FROM location');
      return new Map(rows.map((r) => [r.contact, r.id]));
    };
    const legacy = (sql: string, params: unknown[] = []): Promise<pg.QueryResult> => s.legacyClient.query(sql, params);

    function startRegistrar(): void {
      const p = spawn(join(inst.home, 'sbin/opensips'), ['-F', '-f', node.cfg], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      p.stdout.on('data', (b: Buffer) => regLog.push(b));
      p.stderr.on('data', (b: Buffer) => regLog.push(b));
      registrar = p;
    }
    function killRegistrar(): void {
      if (registrar?.pid) process.kill(-registrar.pid, 'SIGKILL');
      registrar = undefined;
    }
    async function pushSettled(ups: number): Promise<void> {
      const db = await openDb(target.url);
      try {
        for (const end = Date.now() + 60_000; Date.now() < end; await sleep(100)) {
          const rows = await readPushState(db, `ulbridge_${tag}`);
          if (rows?.[0] && rows[0].up && !rows[0].replaying && rows[0].ups >= ups) return;
        }
        throw new Error(`the registrar node did not come up in ulbridge's push state (ups ${ups})`);
      } finally {
        await db.close();
      }
    }
    /** Waits until `check` holds on the target table; records ms since `since`. */
    async function inTable(what: string, since: number, check: (ids: Map<string, string>) => boolean): Promise<void> {
      for (const end = Date.now() + 10_000; Date.now() < end; await sleep(5)) {
        if (check(await tableIds())) {
          tableLatencies.push([what, Date.now() - since]);
          return;
        }
      }
      throw new Error(`${what}: not in the target table within 10 s`);
    }
    /** Waits until `check` holds on the registrar's ul_dump; returns ms since `since`. */
    async function inMemory(what: string, since: number, check: (c: ReturnType<typeof ulContacts>) => boolean): Promise<number> {
      for (const end = Date.now() + 10_000; Date.now() < end; await sleep(10)) {
        if (check(await dump())) {
          const ms = Date.now() - since;
          latencies.push([what, ms]);
          return ms;
        }
      }
      throw new Error(`${what}: not in the registrar's memory within 10 s; ul_dump: ${JSON.stringify(await dump())}`);
    }

    before(async () => {
      s = await legacyScenario(tag, { rows: Number(process.env.ULBRIDGE_PUSH_E2E_ROWS ?? 5000), aors: 1500, seed: 1212, targets: [] });
      target = await freshPostgresDb(`${tag}_target`);
      targetClient = new pg.Client({ connectionString: target.url });
      await targetClient.connect();
      // The registrar's own schema: the version table and its location table.
      for (const f of ['standard-create.sql', 'usrloc-create.sql']) {
        await targetClient.query(readFileSync(join(inst.home, 'share/opensips/postgres', f), 'utf8'));
      }
      ulbridgePort = await freePort();
      node = await newNode(dir, 1);
      const regBin = node.binPort;
      const cfg = parseConfig(
        {
          kafka: { brokers: kafkaBrokers() },
          log: { topic: s.logTopic, partitions: 2, deadLetterTopic: s.deadLetterTopic },
          sources: [{ name: 'legacy', release: '2.1', topic: s.cdcTopic, groupId: `${tag}-${process.pid}-ingest` }],
          targets: [
            {
              name: tag,
              db: target.url,
              release,
              hashSize: 9,
              useDomain,
              groupId: `${tag}-${process.pid}-project`,
              cluster: {
                clusterId: 1,
                nodeId: 2,
                listen: `bin:127.0.0.1:${ulbridgePort}`,
                opensips: inst.line,
                // 3.4/3.5 carry branch flags as a bitmask: the registrar script's one flag, NAT, is bit 0.
                ...(inst.line === '3.4' || inst.line === '3.5' ? { branchFlags: ['NAT'] } : {}),
                nodes: [{ nodeId: 1, url: `bin:127.0.0.1:${regBin}` }],
              },
            },
          ],
          http: { port: 0 },
        },
        {},
      );
      bridge = spawnBridge(cfg);
      bridge.stderr?.on('data', (b: Buffer) => process.stderr.write(b));
      await waitForEqual(s, target.url, release);
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        node.cfg,
        nodeCfg({
          dir,
          node,
          mods: modulesDir(inst.home),
          db: target.url,
          persistency: 'load-from-sql',
          neighbours: [{ id: 2, port: ulbridgePort }],
          extra: ['modparam("usrloc", "skip_replicated_db_ops", 1)', `modparam("usrloc", "use_domain", ${useDomain ? 1 : 0})`],
        }),
      );
      startRegistrar();
      sip = await SipClient.open({ port: node.sipPort });
    });

    after(async () => {
      killRegistrar();
      await sip?.close().catch(() => undefined);
      bridge?.kill('SIGTERM');
      if (bridge && bridge.exitCode === null) await new Promise((r) => bridge!.once('exit', r));
      await targetClient?.end().catch(() => undefined);
      await s?.cleanup();
      await target?.drop().catch(() => undefined);
      const errors = Buffer.concat(regLog)
        .toString('utf8')
        .split('\n')
        .filter((l) => /ERROR|CRITICAL/.test(l));
      process.stdout.write(`# OpenSIPS ${inst.version} log errors: ${errors.length}\n${errors.slice(0, 20).join('\n')}\n`);
      process.stdout.write(`# OpenSIPS ${inst.version} latencies (legacy commit -> registrar memory): ${JSON.stringify(latencies)}\n`);
      process.stdout.write(`# OpenSIPS ${inst.version} latencies (legacy commit -> target row): ${JSON.stringify(tableLatencies)}\n`);
    });

    test('started on the bridged table, the registrar holds every row with its id; a contact registered, refreshed and removed at the legacy registrar reaches its memory with no restart', async () => {
      await pushSettled(1);
      const rows = await tableIds();
      const mem = await dump();
      process.stdout.write(`# ${inst.version}: after start: ul_dump ${mem.length} contacts, table ${rows.size} rows\n`);
      assert.deepEqual(new Map(mem.map((c) => [c.contact, c.id])), rows);

      const aor = useDomain ? 'pushtest@example.com' : 'pushtest';
      const contact = 'sip:pushtest@192.0.2.99:5060';
      // Registered at the legacy registrar (a 2.1 table: its own auto-increment id).
      let t0 = Date.now();
      await legacy(
        `INSERT INTO location (username, domain, contact, expires, q, callid, cseq, last_modified, user_agent)
         VALUES ('pushtest', 'example.com', $1, (now() AT TIME ZONE 'UTC') + interval '1 hour', 1.0, 'push-call', 1, now() AT TIME ZONE 'UTC', 'e2e')`,
        [contact],
      );
      await Promise.all([
        inTable('register', t0, (ids) => ids.has(contact)),
        inMemory('register', t0, (m) => m.some((c) => c.contact === contact && c.aor === aor)),
      ]);
      const id = (await tableIds()).get(contact);
      assert.ok(id, 'the target row');
      assert.deepEqual(
        (await dump()).filter((c) => c.contact === contact).map((c) => [c.aor, c.id, c.cseq, c.callid]),
        [[aor, id, 1, 'push-call']],
      );
      const found = await sip.options('pushtest', 'example.com');
      assert.equal(found.status, 200);
      assert.match(found.raw, new RegExp(`X-Lookup: ${contact.replace(/\./g, '\\.')}`));

      // Refreshed: same binding, new CSeq; the id stays.
      t0 = Date.now();
      await legacy(
        `UPDATE location SET cseq = 2, expires = expires + interval '10 minutes', last_modified = now() AT TIME ZONE 'UTC' WHERE callid = 'push-call'`,
      );
      await inMemory('refresh', t0, (m) => m.some((c) => c.contact === contact && c.cseq === 2));
      assert.deepEqual(
        (await dump()).filter((c) => c.contact === contact).map((c) => [c.id, c.cseq]),
        [[id, 2]],
      );
      assert.equal((await tableIds()).get(contact), id);

      // Removed.
      t0 = Date.now();
      await legacy(`DELETE FROM location WHERE callid = 'push-call'`);
      await Promise.all([
        inTable('remove', t0, (ids) => !ids.has(contact)),
        inMemory('remove', t0, (m) => !m.some((c) => c.contact === contact)),
      ]);
      assert.equal((await sip.options('pushtest', 'example.com')).status, 404);

      // A REGISTER taken by the new registrar itself: it writes its own row (a row ulbridge leaves
      // alone) and replicates it to ulbridge, which counts it and carries on.
      const own = await sip.register({ user: 'direct', domain: 'example.com', expires: 600, callId: 'direct-call', cseq: 1 });
      assert.equal(own.status, 200, own.raw);
      const ownAor = useDomain ? 'direct@example.com' : 'direct';
      await inMemory('own REGISTER', Date.now(), (m) => m.some((c) => c.aor === ownAor));
      const ownRows = await targetClient.query<{ n: string }>(`SELECT count(*)::text AS n FROM location WHERE username = 'direct'`);
      assert.equal(ownRows.rows[0]!.n, '1', "the registrar's own row, once");
      assert.equal(bridge!.exitCode, null, 'the bridge runs on');
      // ... and removes it again (this test runs no reverse sync, so the legacy table never has it).
      const gone = await sip.register({ user: 'direct', domain: 'example.com', expires: 0, callId: 'direct-call', cseq: 2 });
      assert.equal(gone.status, 200, gone.raw);
      await inMemory('own unREGISTER', Date.now(), (m) => !m.some((c) => c.aor === ownAor));
      for (const end = Date.now() + 10_000; Date.now() < end; await sleep(50)) {
        const left = await targetClient.query<{ n: string }>(`SELECT count(*)::text AS n FROM location WHERE username = 'direct'`);
        if (left.rows[0]!.n === '0') break;
      }

      // Ordinary traffic at the legacy registrar: memory follows the table exactly.
      for (let i = 0; i < 30; i++) await s.writer.churnOnce();
      await waitForEqual(s, target.url, release);
      t0 = Date.now();
      const want = await tableIds();
      await inMemory('churn of 30 changes', t0, (m) => {
        const got = new Map(m.map((c) => [c.contact, c.id]));
        return got.size === want.size && [...want].every(([k, v]) => got.get(k) === v);
      });
    });

    test('killed and restarted while the legacy registrar keeps changing, the registrar holds exactly the table again; one row per binding, verify clean', async () => {
      killRegistrar();
      for (let i = 0; i < 20; i++) await s.writer.churnOnce();
      await waitForEqual(s, target.url, release);
      startRegistrar();
      await pushSettled(2);
      for (let i = 0; i < 10; i++) await s.writer.churnOnce();
      await waitForEqual(s, target.url, release);
      const want = await tableIds();
      const t0 = Date.now();
      await inMemory('after restart', t0, (m) => {
        const got = new Map(m.map((c) => [c.contact, c.id]));
        return got.size === want.size && [...want].every(([k, v]) => got.get(k) === v);
      });
      const mem = await dump();
      process.stdout.write(`# ${inst.version}: after restart: ul_dump ${mem.length} contacts, table ${want.size} rows\n`);
      const { rows } = await targetClient.query<{ n: string; d: string }>(
        'SELECT count(*)::text AS n, count(DISTINCT (username, domain, contact, callid))::text AS d FROM location',
      );
      assert.equal(rows[0]!.n, rows[0]!.d, 'one row per binding');
      const v = await runVerify({
        db: target.url,
        table: 'location',
        release,
        hashSize: 9,
        useDomain,
        signedness: 'signed',
        timezone: 'UTC',
        now: Math.floor(Date.now() / 1000),
        details: 5,
        batchSize: 1000,
      });
      assert.equal(v.clean, true, JSON.stringify(v));
    });
  });
}
