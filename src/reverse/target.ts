import type { BinlogTransaction } from '../cdc/decoder.js';
import { parseDbUrl } from '../db/url.js';
import type { Logger } from '../ops/logger.js';
import { targetError } from '../project/targetStore.js';
import type { Target } from '../project/target.js';
import type { RegistrationEvent } from '../log/event.js';
import type { AorState } from '../project/planner.js';
import type { AorIdentity } from '../project/target.js';
import { mysqlReverseTargetStore } from './mysqlTarget.js';
import type { OwnWriteVerdict } from './ownWrites.js';
import { pgReverseTargetStore } from './pgTarget.js';

/**
 * What reverse sync needs of the target database, besides the target table's change events: the
 * one reverse algorithm (src/reverse/apply.ts) runs over this interface, and each database kind
 * implements it in its own file (pgTarget.ts, mysqlTarget.ts), with its own SQL:
 *
 * - the own-write check: was a change event's transaction one the projection committed?
 *   PostgreSQL: Debezium's `source.txId` is in `<state>.own_tx.xid`; MySQL/MariaDB: the event's
 *   GTID against the projection's own_tx markers (src/reverse/ownWrites.ts);
 * - which legacy row a target row is: the projection's forward binding, else reverse sync's link;
 * - reverse sync's links and its label state for 2.2+ legacy tables (`legacy_aors`);
 * - pruning old own_tx entries.
 */

/** One decoded change of the target table, with the source transaction Debezium reported. */
export interface TargetChange {
  event: RegistrationEvent;
  /** PostgreSQL targets: source.txId (null if Debezium reported none). */
  txId: bigint | null;
  /** MySQL/MariaDB targets: source.gtid, server_id and snapshot. */
  binlog?: BinlogTransaction | null;
}

export interface TargetLookup {
  /** The own-write verdict of each change, in the order given (PostgreSQL: own or foreign only). */
  verdicts: OwnWriteVerdict[];
  /** Legacy key of each contact id the changes name that has one (forward binding first, then link). */
  legacyOf: Map<bigint, bigint>;
}

export interface LegacyAors {
  /** Label state of the AORs asked for (MySQL: every one of them; PostgreSQL: those that have one). */
  aors: Map<string, AorState>;
  /** A record label for an AOR without state (PostgreSQL: drawn from legacy_rlabel_seq for this batch). */
  takeRlabel: () => number;
}

/** Links and label state written in a target transaction still open (ReverseTargetSession.openLinks). */
export interface LinksTransaction {
  /** Upserts these links and saves this label state again, in the same transaction (rows relabelled after a clash). */
  amend(add: ReadonlyMap<bigint, bigint>, labels: readonly AorState[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** One session on the target database (a pooled connection), used by one batch at a time. */
export interface ReverseTargetSession {
  readonly dialect: 'postgres' | 'mysql';
  /** Own-write verdicts and legacy keys for a batch (one round trip). */
  lookUp(sourceName: string, changes: readonly TargetChange[]): Promise<TargetLookup>;
  /**
   * Label state of these AORs (keys as the legacy registrar hashes them); an AOR without one gets
   * a record label of its own, unique across the legacy table and never reused.
   */
  legacyAors(wanted: ReadonlyMap<string, AorIdentity>): Promise<LegacyAors>;
  /**
   * In one target transaction: links of new legacy rows (target contact id -> legacy key, as
   * binding `<sourceName>:<key>`) upserted, those of deleted rows dropped, label state saved.
   */
  writeLinks(sourceName: string, add: ReadonlyMap<bigint, bigint>, drop: ReadonlySet<bigint>, labels: readonly AorState[]): Promise<void>;
  /**
   * writeLinks' writes in a target transaction left open, so that they can be made while the
   * legacy rows they name are inserted; the caller amends, commits or rolls it back. Nothing else
   * may use the session until it ends.
   */
  openLinks(
    sourceName: string,
    add: ReadonlyMap<bigint, bigint>,
    drop: ReadonlySet<bigint>,
    labels: readonly AorState[],
  ): Promise<LinksTransaction>;
  /** Drops own_tx entries older than this; returns how many. */
  pruneOwnTransactions(olderThanSeconds: number): Promise<number>;
}

/** The target database of a reverse sync: its state, and sessions on it. */
export interface ReverseTargetStore {
  readonly dialect: 'postgres' | 'mysql';
  /** Creates the state schema (database) and reverse sync's tables if missing. */
  ensureState(): Promise<void>;
  /** Runs fn on a session; a session that failed is dropped, never reused. */
  withSession<T>(fn: (session: ReverseTargetSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The reverse target store for the target's database kind (postgres:// or mysql:// / mariadb:// URL). */
export function openReverseTargetStore(target: Target, opts: { name: string; logger: Logger }): ReverseTargetStore {
  let dialect: 'postgres' | 'mysql';
  try {
    dialect = parseDbUrl(target.db).dialect;
  } catch (e) {
    throw targetError(target, e);
  }
  return dialect === 'postgres' ? pgReverseTargetStore(target, opts) : mysqlReverseTargetStore(target, {});
}
