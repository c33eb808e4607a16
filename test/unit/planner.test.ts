import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Planner, type AorState, type BindingState } from '../../src/project/planner.js';
import { unpackContactId, packContactId } from '../../src/opensips/contactId.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { unitTarget } from '../support/fakeProjection.js';

const target = unitTarget;

function ev(
  op: 'UPSERT' | 'DELETE',
  rowKey: bigint,
  major: bigint,
  user: string,
  extra: { expires?: bigint; cseq?: number } = {},
): RegistrationEvent {
  return {
    op,
    source: {
      name: 'legacy',
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey,
      position: { major, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 0n,
    },
    registration: {
      username: user,
      domain: null,
      contact: `sip:${user}@192.0.2.1`,
      received: null,
      path: null,
      expires: extra.expires ?? 0n,
      q: 1,
      callid: `c${rowKey}`,
      cseq: extra.cseq ?? 1,
      lastModified: 1764000000n,
      flags: 0,
      cflags: null,
      userAgent: 'ua',
      socket: null,
      methods: null,
      sipInstance: null,
      kvStore: null,
      attr: null,
    },
  };
}

function planner(bindings = new Map<string, BindingState>(), aors = new Map<string, AorState>(), live = new Map<string, Set<number>>()) {
  let next = 131072;
  return new Planner({ target, now: 1764000000, bindings, aors, liveClabels: live, takeRlabel: () => next++ });
}

test('contacts of one AOR share the record label and get consecutive contact labels', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee'), 0, 'legacy:1');
  p.apply(ev('UPSERT', 2n, 11n, 'callee'), 0, 'legacy:2');
  p.apply(ev('UPSERT', 3n, 12n, 'bob'), 0, 'legacy:3');
  const ids = [...p.plan.inserts.values()].map((r) => unpackContactId(r.contactId));
  assert.deepEqual(ids, [
    { aorhash: 1706, rlabel: 131072, clabel: 0 },
    { aorhash: 1706, rlabel: 131072, clabel: 1 },
    { aorhash: 13251, rlabel: 131073, clabel: 0 },
  ]);
  assert.equal(p.plan.inserts.get('legacy:1')!.contactId, 120049079714578432n);
});

test('a stale or repeated event has no effect; a later one updates in place with the same id', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee', { cseq: 1 }), 0, 'legacy:1');
  assert.equal(p.apply(ev('UPSERT', 1n, 10n, 'callee', { cseq: 9 }), 0, 'legacy:1'), false);
  assert.equal(p.apply(ev('UPSERT', 1n, 9n, 'callee', { cseq: 9 }), 0, 'legacy:1'), false);
  assert.equal(p.apply(ev('UPSERT', 1n, 11n, 'callee', { cseq: 2 }), 0, 'legacy:1'), true);
  assert.equal(p.plan.stale, 2);
  assert.equal(p.plan.inserts.size, 1);
  const row = p.plan.inserts.get('legacy:1')!;
  assert.equal(row.values[9], 2, 'cseq of the latest event');
});

test('insert then delete within one batch nets out to nothing in the table', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee'), 0, 'legacy:1');
  p.apply(ev('DELETE', 1n, 11n, 'callee'), 0, 'legacy:1');
  assert.equal(p.plan.inserts.size, 0);
  assert.equal(p.plan.deletes.size, 0);
  assert.equal(p.plan.bindings.get('legacy:1')!.contactId, null);
});

test('an existing binding keeps its id on update and loses its row when deleted', () => {
  const id = packContactId({ aorhash: 1706, rlabel: 200000, clabel: 5 });
  const bindings = new Map<string, BindingState>([
    [
      'legacy:1',
      {
        binding: 'legacy:1',
        sourceName: 'legacy',
        sourceRowKey: 1n,
        logPartition: 0,
        aor: 'callee',
        clabel: 5,
        contactId: id,
        inTarget: true,
        position: { major: 10n, minor: 1n, seq: 0n },
      },
    ],
  ]);
  const aors = new Map<string, AorState>([
    ['callee', { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 200000, nextClabel: 6, wrapped: false }],
  ]);
  const p = planner(bindings, aors, new Map([['callee', new Set([5])]]));
  p.apply(ev('UPSERT', 1n, 11n, 'callee', { cseq: 3 }), 0, 'legacy:1');
  assert.deepEqual(
    [...p.plan.updates.values()].map((r) => r.contactId),
    [id],
  );
  p.apply(ev('DELETE', 1n, 12n, 'callee'), 0, 'legacy:1');
  assert.equal(p.plan.updates.size, 0);
  assert.deepEqual([...p.plan.deletes], [id]);
});

test('expired bindings keep their id in state but have no row; a refresh writes it back with the same id', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee', { expires: 1764000000n }), 0, 'legacy:1');
  assert.equal(p.plan.inserts.size, 0);
  const state = p.plan.bindings.get('legacy:1')!;
  assert.equal(state.inTarget, false);
  const reserved = state.contactId;
  assert.notEqual(reserved, null);
  p.apply(ev('UPSERT', 1n, 11n, 'callee', { expires: 1764003600n }), 0, 'legacy:1');
  assert.equal(p.plan.inserts.get('legacy:1')!.contactId, reserved);
});

test('contact labels skip labels held by live bindings when the counter wraps', () => {
  const aors = new Map<string, AorState>([
    ['callee', { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 200000, nextClabel: 16383, wrapped: false }],
  ]);
  const p = planner(new Map(), aors, new Map([['callee', new Set([16383, 0, 1])]]));
  p.apply(ev('UPSERT', 7n, 10n, 'callee'), 0, 'legacy:7');
  assert.equal(unpackContactId(p.plan.inserts.get('legacy:7')!.contactId).clabel, 2);
  assert.equal(aors.get('callee')!.nextClabel, 3);
  assert.equal(aors.get('callee')!.wrapped, true);
});

test('relabel after a clash with a foreign row takes the next free contact label', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee'), 0, 'legacy:1');
  const row = p.relabel('legacy:1');
  assert.deepEqual(unpackContactId(row.contactId), { aorhash: 1706, rlabel: 131072, clabel: 1 });
  assert.equal(row.values[0], row.contactId);
});

test('rows OpenSIPS cannot load are reported, not written', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, ''), 0, 'legacy:1');
  assert.deepEqual(p.plan.unloadable, [{ binding: 'legacy:1', reason: 'empty username record' }]);
  assert.equal(p.plan.inserts.size, 0);
});

test('a tombstone deletes a binding whose DELETE was compacted away, and is a no-op after its DELETE', () => {
  const id = packContactId({ aorhash: 1706, rlabel: 200000, clabel: 5 });
  const bindings = new Map<string, BindingState>([
    [
      'legacy:1',
      {
        binding: 'legacy:1',
        sourceName: 'legacy',
        sourceRowKey: 1n,
        logPartition: 0,
        aor: 'callee',
        clabel: 5,
        contactId: id,
        inTarget: true,
        position: { major: 10n, minor: 1n, seq: 0n },
      },
    ],
  ]);
  const p = planner(bindings);
  p.tombstone('legacy:1');
  assert.deepEqual([...p.plan.deletes], [id]);
  assert.equal(p.plan.bindings.get('legacy:1')!.contactId, null);
  assert.deepEqual(p.plan.bindings.get('legacy:1')!.position, { major: 10n, minor: 1n, seq: 0n });
  p.tombstone('legacy:1');
  p.tombstone('legacy:404');
  assert.deepEqual([...p.plan.deletes], [id]);
  assert.equal(p.plan.bindings.size, 1);
});

test('new AORs are reported as created, so the applier inserts them without ON CONFLICT', () => {
  const aors = new Map<string, AorState>([
    ['callee', { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 200000, nextClabel: 6, wrapped: false }],
  ]);
  const p = planner(new Map(), aors);
  p.apply(ev('UPSERT', 1n, 10n, 'callee'), 0, 'legacy:1');
  p.apply(ev('UPSERT', 2n, 10n, 'bob'), 0, 'legacy:2');
  assert.deepEqual([...p.plan.createdAors], ['bob']);
  assert.deepEqual([...p.plan.aors.keys()].sort(), ['bob', 'callee']);
});

test('a streamed change supersedes a snapshot read even at a lower LSN (transaction in flight at the snapshot point)', () => {
  const snapshotRead = ev('UPSERT', 1n, 500n, 'callee', { cseq: 1 });
  snapshotRead.source.snapshot = true;
  snapshotRead.source.position = { major: 500n, minor: 0n, seq: 0n };
  const p = planner();
  p.apply(snapshotRead, 0, 'legacy:1');
  const del = ev('DELETE', 1n, 490n, 'callee'); // written at LSN 490, committed after the snapshot point
  assert.equal(p.apply(del, 0, 'legacy:1'), true);
  assert.equal(p.plan.inserts.size, 0);
  assert.deepEqual(p.plan.bindings.get('legacy:1')!.position, { major: 490n, minor: 1n, seq: 0n });
  // A redelivery of the same change, or an older one, is stale again.
  assert.equal(p.apply(ev('DELETE', 1n, 490n, 'callee'), 0, 'legacy:1'), false);
  assert.equal(p.apply(ev('UPSERT', 1n, 480n, 'callee'), 0, 'legacy:1'), false);
  // A later snapshot read (a re-snapshot) still orders by position.
  const resnap = ev('UPSERT', 1n, 900n, 'callee');
  resnap.source.snapshot = true;
  resnap.source.position = { major: 900n, minor: 0n, seq: 0n };
  assert.equal(p.apply(resnap, 0, 'legacy:1'), true);
});

test('MySQL positions: a streamed row event supersedes a snapshot read at the same binlog position', () => {
  const mk = (snapshot: boolean, pos: bigint, seq: bigint): RegistrationEvent => {
    const e = ev('UPSERT', 1n, 3n, 'callee');
    e.source.connector = 'MYSQL';
    e.source.snapshot = snapshot;
    e.source.position = { major: 3n, minor: pos, seq };
    return e;
  };
  const p = planner();
  p.apply(mk(true, 1000n, 0n), 0, 'legacy:1');
  assert.equal(p.apply(mk(false, 1000n, 1n), 0, 'legacy:1'), true);
  assert.equal(p.apply(mk(false, 1000n, 1n), 0, 'legacy:1'), false);
});

test("adopt links a new binding to the registrar's row: no new id, the event becomes an update of that row", () => {
  const registrarRow = packContactId({ aorhash: 1706, rlabel: 1000, clabel: 3 });
  const p = planner();
  assert.equal(p.adopt('legacy:9', registrarRow, ev('UPSERT', 9n, 10n, 'callee'), 2), true);
  assert.equal(p.apply(ev('UPSERT', 9n, 10n, 'callee'), 2, 'legacy:9'), true);
  assert.equal(p.plan.inserts.size, 0);
  assert.deepEqual([...p.plan.updates.keys()], ['legacy:9']);
  assert.equal(p.plan.updates.get('legacy:9')!.contactId, registrarRow);
  assert.deepEqual(p.plan.updates.get('legacy:9')!.version, { callid: 'c9', cseq: 1, lastModified: 1764000000n });
  const b = p.plan.bindings.get('legacy:9')!;
  assert.deepEqual([b.aor, b.clabel, b.contactId, b.inTarget, b.logPartition], ['callee', 3, registrarRow, true, 2]);
  // The AOR gets ulbridge's own record label for contacts ulbridge adds later.
  assert.deepEqual(p.plan.aors.get('callee'), { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 131072, nextClabel: 0, wrapped: false });
  assert.equal(p.adopt('legacy:9', registrarRow, ev('UPSERT', 9n, 11n, 'callee'), 2), false, 'a known binding is not adopted again');
});

test('a delete records the version of the deleted state, for the conflict rule of shared targets', () => {
  const p = planner();
  p.apply(ev('UPSERT', 1n, 10n, 'callee', { cseq: 4 }), 0, 'legacy:1');
  const id = p.plan.inserts.get('legacy:1')!.contactId;
  const q = planner(p.plan.bindings, p.plan.aors);
  q.apply(ev('DELETE', 1n, 11n, 'callee', { cseq: 5 }), 0, 'legacy:1');
  assert.deepEqual([...q.plan.deletes], [id]);
  assert.deepEqual(q.plan.deleteVersions.get(id), { callid: 'c1', cseq: 5, lastModified: 1764000000n });
});

test("adopting a registrar's row with the AOR's own record label moves the AOR's counter past its label", () => {
  // The AOR's state: record label 131072, next contact label 1 (ulbridge wrote clabel 0). The new
  // registrar loaded that row and gave the AOR's next contact clabel 4 under the same record label.
  const aors = new Map<string, AorState>([
    ['callee', { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 131072, nextClabel: 1, wrapped: false }],
  ]);
  const registrarRow = packContactId({ aorhash: 1706, rlabel: 131072, clabel: 4 });
  const p = planner(new Map(), aors);
  assert.equal(p.adopt('legacy:9', registrarRow, ev('UPSERT', 9n, 10n, 'callee'), 2), true);
  assert.deepEqual(p.plan.aors.get('callee'), { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 131072, nextClabel: 5, wrapped: false });
  // A new contact of the AOR takes clabel 5: above every label held under this record label.
  p.apply(ev('UPSERT', 10n, 11n, 'callee'), 2, 'legacy:10');
  assert.deepEqual(unpackContactId(p.plan.inserts.get('legacy:10')!.contactId), { aorhash: 1706, rlabel: 131072, clabel: 5 });
  // A row under another record label leaves the counter alone.
  const other = planner(new Map(), new Map([['callee', { ...aors.get('callee')!, nextClabel: 1 }]]));
  other.adopt('legacy:9', packContactId({ aorhash: 1706, rlabel: 999, clabel: 4 }), ev('UPSERT', 9n, 10n, 'callee'), 2);
  assert.equal(other.plan.aors.has('callee'), false);
  // The last label: the counter wraps, so live labels are skipped from then on.
  const last = planner(new Map(), new Map([['callee', { ...aors.get('callee')!, nextClabel: 1 }]]));
  last.adopt('legacy:9', packContactId({ aorhash: 1706, rlabel: 131072, clabel: 16383 }), ev('UPSERT', 9n, 10n, 'callee'), 2);
  assert.deepEqual(last.plan.aors.get('callee'), { aor: 'callee', aorhash: 1706, slot: 170, rlabel: 131072, nextClabel: 0, wrapped: true });
});
