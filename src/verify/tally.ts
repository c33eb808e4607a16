import type { LocationRow } from '../db/locationRows.js';
import { LOADABLE, R, REJECT_REASONS, type RejectCode } from './reasons.js';
import { idAorhash, idClabel, idRlabel, type PreloadSimulator } from './simulator.js';
import type { ExpiryRule } from './expiry.js';

/** A contact id with its fields decoded; 64-bit value as a decimal string. */
export interface DecodedId {
  contactId: string;
  aorhash: number;
  rlabel: number;
  clabel: number;
}

/** One example row of a finding (--details). */
export interface RowExample {
  id: DecodedId | null;
  username: string | null;
  domain: string | null;
  contact: string | null;
  /** aorhash mismatch only: core_hash(AOR) & 0xFFFF, the value the id should carry. */
  expectedAorhash?: number;
  /** The line OpenSIPS logs for this row. */
  opensipsLog: string;
}

export function decodeId(id: bigint | null): DecodedId | null {
  if (id === null) return null;
  return { contactId: BigInt.asUintN(64, id).toString(), aorhash: idAorhash(id), rlabel: idRlabel(id), clabel: idClabel(id) };
}

/**
 * Counts of one scan: rows read, loadable, rejected per reason, kv_store warnings and expired
 * rows among the loadable ones, plus up to `detailsLimit` examples per reason. Memory is bounded
 * by the number of reasons times the limit.
 */
export class VerifyTally {
  rowsRead = 0;
  loadable = 0;
  expired = 0;
  kvStoreWarnings = 0;
  /** Index = reject code; slot 0 unused. */
  readonly rejected = new Float64Array(REJECT_REASONS.length + 1);
  readonly examples = new Map<string, RowExample[]>();

  constructor(
    private readonly sim: PreloadSimulator,
    private readonly expiry: ExpiryRule,
    private readonly detailsLimit: number,
  ) {}

  get rejectedTotal(): number {
    let n = 0;
    for (let i = 1; i < this.rejected.length; i++) n += this.rejected[i]!;
    return n;
  }

  add(row: LocationRow): void {
    this.rowsRead++;
    const code = this.sim.check(row);
    if (code !== LOADABLE) {
      const seen = this.rejected[code]!;
      this.rejected[code] = seen + 1;
      if (seen < this.detailsLimit) this.example(REJECT_REASONS[code - 1]!.key, row, this.sim.explain(row, code), code);
      return;
    }
    this.loadable++;
    if (row.expires !== null && this.expiry.isExpired(row.expires)) this.expired++;
    const warning = this.sim.kvStoreWarning(row);
    if (warning !== null) {
      if (this.kvStoreWarnings < this.detailsLimit) this.example('badKvStore', row, warning, null);
      this.kvStoreWarnings++;
    }
  }

  private example(key: string, row: LocationRow, log: string, code: RejectCode | null): void {
    const ex: RowExample = {
      id: decodeId(row.contactId),
      username: row.username,
      domain: row.domain,
      contact: row.contact,
      opensipsLog: log,
    };
    if (code === R.aorhashMismatch) ex.expectedAorhash = this.sim.fullHash(row) & 0xffff;
    const list = this.examples.get(key);
    if (list) list.push(ex);
    else this.examples.set(key, [ex]);
  }
}
