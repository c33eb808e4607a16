import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { LegacyTableWriter } from '../../src/demo/legacyTable.js';
import { Workload } from '../../src/demo/workload.js';

/**
 * The registrar emulation's bookkeeping (src/demo/legacyTable.ts), over a fake client that keeps
 * the table as the statements the writer sends describe it: churn touches only rows the writer
 * churns (never a deleted or forgotten one), and its picks are one array index, not a walk over
 * every row (the walk cost the demo's process a third of a core at 200,000 rows).
 */
class FakeTable {
  readonly rows = new Map<number, { cseq: number }>();
  readonly touched: number[] = [];
  private nextId = 1;

  asClient(): pg.ClientBase {
    return { query: (sql: string, params: unknown[]) => Promise.resolve(this.query(sql, params)) } as unknown as pg.ClientBase;
  }

  private query(sql: string, params: unknown[]): { rows: { id: number }[] } {
    if (sql.startsWith('INSERT')) {
      const cseqs = params[8] as number[];
      return { rows: cseqs.map((cseq) => ({ id: this.add(cseq) })) };
    }
    const id = params[0] as number;
    assert.ok(this.rows.has(id), `${sql.split(' ')[0]} of id ${id}, which the table does not hold`);
    this.touched.push(id);
    if (sql.startsWith('UPDATE')) this.rows.set(id, { cseq: params[2] as number });
    else if (sql.startsWith('DELETE')) this.rows.delete(id);
    else assert.fail(`unexpected statement ${sql}`);
    return { rows: [] };
  }

  private add(cseq: number): number {
    const id = this.nextId++;
    this.rows.set(id, { cseq });
    return id;
  }
}

test('churn picks among the rows the writer holds: never a deleted or forgotten one; the table and the writer agree', async () => {
  const table = new FakeTable();
  const writer = new LegacyTableWriter(table.asClient(), 'location', new Workload(7, () => 1_700_000_000), 'UTC', 700);
  await writer.seed(1000, 700, 100);
  assert.equal(writer.rows.size, 1000);
  const forgotten = [...writer.rows.keys()].filter((id) => id % 3 === 0);
  for (const id of forgotten) writer.forget(id);
  writer.forget(forgotten[0]!); // twice: nothing more happens
  writer.forget(99_999); // never held
  assert.equal(writer.rows.size, 1000 - forgotten.length);

  for (let i = 0; i < 3000; i++) await writer.churnOnce();

  const untouchable = new Set(forgotten);
  assert.deepEqual(
    table.touched.filter((id) => untouchable.has(id)),
    [],
    'no forgotten row is refreshed or deleted',
  );
  assert.deepEqual(writer.counts, { refreshes: 1606, newContacts: 460, newAors: 466, deregistrations: 468 });
  // Every row the table holds is either churned by the writer (same CSeq) or one it forgot.
  for (const [id, row] of table.rows) {
    if (untouchable.has(id)) continue;
    assert.equal(writer.rows.get(id)?.cseq, row.cseq, `row ${id}`);
  }
  assert.equal(writer.rows.size, table.rows.size - forgotten.length);
  // The picks spread over old and new rows alike.
  const picked = new Set(table.touched);
  assert.equal(picked.size, 1130);
  assert.ok(
    [...picked].some((id) => id > 1000),
    'rows inserted by the churn are picked too',
  );
});
