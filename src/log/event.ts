/**
 * The canonical registration event (schemas/registration-event.avsc) as TypeScript types.
 * 64-bit fields are bigint.
 */

export type EventOp = 'UPSERT' | 'DELETE' | 'TRUNCATE';
export type SourceDb = 'POSTGRESQL' | 'MYSQL';

export interface SourcePosition {
  major: bigint;
  minor: bigint;
  seq: bigint;
}

export interface EventSource {
  name: string;
  release: string;
  connector: SourceDb;
  table: string;
  rowKey: bigint;
  position: SourcePosition;
  snapshot: boolean;
  tsMs: bigint;
}

export interface Registration {
  username: string;
  domain: string | null;
  contact: string;
  received: string | null;
  path: string | null;
  expires: bigint;
  q: number;
  callid: string;
  cseq: number;
  lastModified: bigint;
  flags: number;
  cflags: string | null;
  userAgent: string;
  socket: string | null;
  methods: number | null;
  sipInstance: string | null;
  kvStore: string | null;
  attr: string | null;
}

export interface RegistrationEvent {
  op: EventOp;
  source: EventSource;
  registration: Registration | null;
}

/** -1, 0, 1 as a is before, equal to, after b. */
export function comparePositions(a: SourcePosition, b: SourcePosition): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

/** The log key of a binding: one source row. */
export function bindingKey(source: Pick<EventSource, 'name' | 'rowKey'>): string {
  return `${source.name}:${source.rowKey}`;
}
