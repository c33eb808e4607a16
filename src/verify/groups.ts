import type { LocationRow } from '../db/locationRows.js';
import { LOADABLE } from './reasons.js';
import { idAorhash, idRlabel, type PreloadSimulator } from './simulator.js';
import { decodeId, type DecodedId } from './tally.js';

/**
 * The cross-row findings, counted over rows OpenSIPS would load. Both consume candidate rows the
 * database grouped and ordered (src/db/labelGroups.ts), so each group is contiguous and memory
 * holds one group's counters plus a bounded number of examples.
 */

export interface DuplicateIdExample {
  id: DecodedId;
  rows: Array<{ username: string | null; domain: string | null; contact: string | null }>;
}

export interface DuplicateIds {
  /** Contact ids held by two or more loadable rows. */
  ids: number;
  /** Loadable rows holding those ids. */
  rows: number;
  examples: DuplicateIdExample[];
}

export interface SharedLabelExample {
  slot: number;
  rlabel: number;
  /** The AORs sharing the label (up to 10), each with one of its contact ids. */
  aors: Array<{ aor: string; contactId: string }>;
  aorCount: number;
}

export interface SharedLabels {
  /** (slot, rlabel) pairs used by two or more AORs: ambiguous record labels. */
  labels: number;
  /** AORs involved (summed over those labels). */
  aors: number;
  examples: SharedLabelExample[];
}

const EXAMPLE_ROWS = 10;

export async function findDuplicateIds(
  batches: AsyncIterable<LocationRow[]>,
  sim: PreloadSimulator,
  detailsLimit: number,
): Promise<DuplicateIds> {
  const out: DuplicateIds = { ids: 0, rows: 0, examples: [] };
  let current: bigint | null = null;
  let loaded: LocationRow[] = [];
  let count = 0;
  const close = (): void => {
    if (current !== null && count >= 2) {
      out.ids++;
      out.rows += count;
      if (out.examples.length < detailsLimit) {
        out.examples.push({
          id: decodeId(current)!,
          rows: loaded.map((r) => ({ username: r.username, domain: r.domain, contact: r.contact })),
        });
      }
    }
    loaded = [];
    count = 0;
  };
  for await (const batch of batches) {
    for (const row of batch) {
      if (row.contactId !== current) {
        close();
        current = row.contactId;
      }
      if (sim.check(row) !== LOADABLE) continue;
      count++;
      if (loaded.length < EXAMPLE_ROWS) loaded.push(row);
    }
  }
  close();
  return out;
}

export async function findSharedLabels(
  batches: AsyncIterable<LocationRow[]>,
  sim: PreloadSimulator,
  detailsLimit: number,
): Promise<SharedLabels> {
  const mask = sim.opts.slots - 1;
  const out: SharedLabels = { labels: 0, aors: 0, examples: [] };
  let slot = -1;
  let rlabel = -1;
  let lastAor: string | null = null;
  let distinct = 0;
  let sample: Array<{ aor: string; contactId: string }> = [];
  const close = (): void => {
    if (distinct >= 2) {
      out.labels++;
      out.aors += distinct;
      if (out.examples.length < detailsLimit) out.examples.push({ slot, rlabel, aors: sample, aorCount: distinct });
    }
    lastAor = null;
    distinct = 0;
    sample = [];
  };
  for await (const batch of batches) {
    for (const row of batch) {
      if (row.contactId === null) continue;
      const s = idAorhash(row.contactId) & mask;
      const r = idRlabel(row.contactId);
      if (s !== slot || r !== rlabel) {
        close();
        slot = s;
        rlabel = r;
      }
      if (sim.check(row) !== LOADABLE) continue;
      const aor = sim.aorOf(row);
      if (aor === lastAor) continue;
      lastAor = aor;
      distinct++;
      if (sample.length < EXAMPLE_ROWS) sample.push({ aor, contactId: BigInt.asUintN(64, row.contactId).toString() });
    }
  }
  close();
  return out;
}
