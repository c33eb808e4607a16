import type { DialectName } from '../db/url.js';
import { isUlbridgeError, UlbridgeError } from '../ops/errors.js';
import type { Logger } from '../ops/logger.js';
import type { BatchInput, BatchResult } from './batch.js';
import type { Target } from './target.js';

/**
 * Where a projection writes one target: the target table and ulbridge's state beside it, in one
 * database. The projection (src/project/projection.ts) sees only this; the database kind comes
 * from the target URL's scheme.
 */
export interface TargetStore {
  readonly target: Target;
  readonly dialect: DialectName;
  /** Creates ulbridge's state (schema or database) if missing; coded error if the database cannot be reached. */
  ensureState(): Promise<void>;
  /** The next offset stored for each partition of the log topic that has one. */
  storedOffsets(topic: string, partitions: number[]): Promise<Map<number, string>>;
  /** One batch in one transaction (src/project/apply.ts). */
  applyBatch(batch: BatchInput): Promise<BatchResult>;
  close(): Promise<void>;
}

export interface TargetStoreOptions {
  /** Connections in the pool. */
  poolSize: number;
  logger: Logger;
}

/** A db-layer error worded for a target of the config ("--db" is "targets[].db" there). */
export function targetError(target: Target, e: unknown): unknown {
  if (!isUlbridgeError(e)) return e;
  const message = e.message.replace(/--db\b/g, 'targets[].db').replace(/--table\b/g, 'targets[].table');
  return new UlbridgeError(e.code, `target "${target.name}": ${message}`, e.exitCode, { cause: e });
}
