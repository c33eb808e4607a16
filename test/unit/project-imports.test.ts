import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// The applier and its dialect sessions: one algorithm (apply.ts), PostgreSQL and MySQL/MariaDB
// behind a small interface, and no import cycles among the modules of src/project/ (type-only
// imports included: a cycle of types is a cycle of concepts).
const DIR = fileURLToPath(new URL('../../src/project/', import.meta.url));

function imports(file: string): string[] {
  const text = readFileSync(join(DIR, file), 'utf8');
  return [...text.matchAll(/^import[^;]*?from '\.\/([^']+)\.js';/gms)].map((m) => `${m[1]}.ts`);
}

test('src/project/ has no import cycles', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  const graph = new Map(files.map((f) => [f, imports(f)]));
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    state.set(f, 'visiting');
    for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test("one applier: the dialect sessions import the algorithm's interface, never each other", () => {
  assert.ok(imports('pgSession.ts').includes('apply.ts'));
  assert.ok(imports('mysqlSession.ts').includes('apply.ts'));
  assert.ok(!imports('pgSession.ts').includes('mysqlSession.ts'));
  assert.ok(!imports('mysqlSession.ts').includes('pgSession.ts'));
  assert.ok(!imports('apply.ts').some((f) => /session|Store/i.test(f)), 'apply.ts knows no dialect');
});
