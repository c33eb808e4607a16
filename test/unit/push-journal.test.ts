/** The cluster push's journal of deletes (src/push/deleteJournal.ts): what a registrar coming back is sent first. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UsrlocMessage } from '../../src/cluster/usrloc/index.js';
import { DeleteJournal } from '../../src/push/deleteJournal.js';

const del = (aor: string): UsrlocMessage => ({
  type: 'UCONTACT_DELETE',
  delete: { domain: 'location', aor, contact: `sip:${aor}@192.0.2.1`, callid: `c-${aor}`, cseq: 1, match: { mode: -1 } },
});
const aors = (j: DeleteJournal): string[] => j.messages().map((m) => (m.type === 'UCONTACT_DELETE' ? m.delete.aor : m.type));

test('keeps the deletes of the horizon, oldest first, and drops whole batches past it or past the maximum', () => {
  let now = 1_000_000;
  const j = new DeleteJournal(60_000, 3, () => now);
  j.add([del('a'), del('b')]);
  j.add([]);
  now += 30_000;
  j.add([del('c')]);
  assert.deepEqual(aors(j), ['a', 'b', 'c']);
  // Over the maximum: the oldest batch goes (a and b together).
  j.add([del('d')]);
  assert.deepEqual(aors(j), ['c', 'd']);
  now += 31_000;
  j.add([del('e')]);
  assert.deepEqual(aors(j), ['c', 'd', 'e']);
  // Past the horizon: c and d (61 s old) go when the next delete arrives.
  now += 30_000;
  j.add([del('f')]);
  assert.deepEqual(aors(j), ['e', 'f']);
});
