/**
 * Hostile Debezium change events, generated with fast-check: what a broken connector, a
 * misconfigured converter, a schema change or a malicious producer could put on the CDC topic of a
 * legacy 2.1 PostgreSQL `location` table. Shared by the CI-sized property test
 * (test/unit/cdc-hostile.test.ts) and the soak (bench/soak.ts), which produces them raw into the
 * real CDC topic next to Debezium's own traffic.
 *
 * Each record starts from a well-formed envelope (the JSON converter's shape, with or without
 * schemas, for a row whose `id` lies in a range the real table never uses) and is then broken in
 * one way. `expect` lists the dead-letter reasons the documented contract allows for that break
 * (docs/ingest.md §7), or 'decode-or-reject' when a valid decode is also allowed (an extra column,
 * a null in a nullable column, a tombstone).
 */
import fc from 'fast-check';
import { LosslessNumber, stringify } from 'lossless-json';
import type { DecodeReason } from '../../src/cdc/errors.js';

export type HostileKind = 'wrong-type' | 'huge-value' | 'invalid-utf8' | 'unknown-op' | 'truncated-json' | 'schema-drift' | 'garbage';
export const HOSTILE_KINDS: readonly HostileKind[] = [
  'wrong-type',
  'huge-value',
  'invalid-utf8',
  'unknown-op',
  'truncated-json',
  'schema-drift',
  'garbage',
];

export interface HostileRecord {
  kind: HostileKind;
  /** What was broken, e.g. "after.cseq := \"x\"". */
  detail: string;
  /** The record key as the JSON converter without key schemas writes it, or garbage. */
  key: Buffer | null;
  value: Buffer | null;
  /** Reasons the contract allows; 'decode-or-reject' = a decode is fine too (any documented reason otherwise). */
  expect: readonly DecodeReason[] | 'decode-or-reject';
}

export interface HostileContext {
  /** Debezium topic prefix (source.name and the schema names). */
  prefix: string;
  /** source.db */
  db: string;
  /** Row ids are drawn from [idMin, idMax]: keep it disjoint from the real table's ids. */
  idMin: number;
  idMax: number;
  /** source.lsn is drawn from [lsnMin, lsnMax] (bigint). */
  lsnMin: bigint;
  lsnMax: bigint;
  /** Largest raw value in bytes (the broker's message limit is 1 MiB by default). */
  maxBytes: number;
}

export const DEFAULT_CONTEXT: HostileContext = {
  prefix: 'hostile',
  db: 'opensips',
  idMin: 1_500_000_000,
  idMax: 2_000_000_000,
  lsnMin: 1n,
  lsnMax: 2n ** 40n,
  maxBytes: 256 * 1024,
};

type Json = null | boolean | string | number | bigint | LosslessNumber | Json[] | { [k: string]: Json };
type JsonObj = { [k: string]: Json };

const ROW_COLUMNS: Array<[string, string, boolean, string | null]> = [
  // name, Connect type, optional, semantic name
  ['id', 'int32', false, null],
  ['username', 'string', false, null],
  ['domain', 'string', false, null],
  ['contact', 'string', false, null],
  ['received', 'string', true, null],
  ['path', 'string', true, null],
  ['expires', 'int64', false, 'io.debezium.time.MicroTimestamp'],
  ['q', 'float', false, null],
  ['callid', 'string', false, null],
  ['cseq', 'int32', false, null],
  ['last_modified', 'int64', false, 'io.debezium.time.MicroTimestamp'],
  ['flags', 'int32', false, null],
  ['cflags', 'string', true, null],
  ['user_agent', 'string', false, null],
  ['socket', 'string', true, null],
  ['methods', 'int32', true, null],
  ['sip_instance', 'string', true, null],
  ['attr', 'string', true, null],
];
export const COLUMN_NAMES = ROW_COLUMNS.map((c) => c[0]);
const NULLABLE = new Set(ROW_COLUMNS.filter((c) => c[2]).map((c) => c[0]));
const STRING_COLUMNS = ROW_COLUMNS.filter((c) => c[1] === 'string').map((c) => c[0]);
const INT_COLUMNS = ROW_COLUMNS.filter((c) => c[1].startsWith('int') && c[3] === null).map((c) => c[0]);
/** VARCHAR lengths of a 2.1 table. */
const LENGTH: Record<string, number> = {
  username: 64,
  domain: 64,
  contact: 255,
  received: 128,
  path: 255,
  callid: 255,
  cflags: 255,
  user_agent: 255,
  socket: 64,
  sip_instance: 255,
  attr: 255,
};

function fieldSchema(name: string, type: string, optional: boolean, semantic: string | null): JsonObj {
  const f: JsonObj = { type, optional, field: name };
  if (semantic) Object.assign(f, { name: semantic, version: 1 });
  return f;
}

function rowSchema(ctx: HostileContext, field: 'before' | 'after'): JsonObj {
  return {
    type: 'struct',
    fields: ROW_COLUMNS.map(([n, t, o, s]) => fieldSchema(n, t, o, s)),
    optional: true,
    name: `${ctx.prefix}.public.location.Value`,
    field,
  };
}

function envelopeSchema(ctx: HostileContext): JsonObj {
  const s = (n: string, t: string, o: boolean): JsonObj => ({ type: t, optional: o, field: n });
  return {
    type: 'struct',
    fields: [
      rowSchema(ctx, 'before'),
      rowSchema(ctx, 'after'),
      {
        type: 'struct',
        fields: [
          s('version', 'string', false),
          s('connector', 'string', false),
          s('name', 'string', false),
          s('ts_ms', 'int64', false),
          {
            type: 'string',
            optional: true,
            name: 'io.debezium.data.Enum',
            version: 1,
            parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
            default: 'false',
            field: 'snapshot',
          },
          s('db', 'string', false),
          s('sequence', 'string', true),
          s('ts_us', 'int64', true),
          s('ts_ns', 'int64', true),
          s('schema', 'string', false),
          s('table', 'string', false),
          s('txId', 'int64', true),
          s('lsn', 'int64', true),
          s('xmin', 'int64', true),
          s('origin', 'string', true),
          s('origin_lsn', 'int64', true),
        ],
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        version: 1,
        field: 'source',
      },
      {
        type: 'struct',
        fields: [s('id', 'string', false), s('total_order', 'int64', false), s('data_collection_order', 'int64', false)],
        optional: true,
        name: 'event.block',
        version: 1,
        field: 'transaction',
      },
      s('op', 'string', false),
      s('ts_ms', 'int64', true),
      s('ts_us', 'int64', true),
      s('ts_ns', 'int64', true),
    ],
    optional: false,
    name: `${ctx.prefix}.public.location.Envelope`,
    version: 2,
  };
}

/** A well-formed envelope: the starting point of every hostile record. */
interface Base {
  value: JsonObj;
  /** The payload (the value itself without schemas). */
  payload: JsonObj;
  /** 'after' for c/u/r, 'before' for d. */
  image: 'before' | 'after';
  id: number;
  schemas: boolean;
}

const baseArb = (ctx: HostileContext): fc.Arbitrary<Base> =>
  fc
    .record({
      id: fc.integer({ min: ctx.idMin, max: ctx.idMax }),
      user: fc.stringMatching(/^[a-z0-9.]{1,20}$/),
      domain: fc.constantFrom('example.com', 'voip.example.net', ''),
      port: fc.integer({ min: 1024, max: 65535 }),
      expiresS: fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }),
      q: fc.constantFrom(1, 0.5, -1),
      cseq: fc.integer({ min: 1, max: 100_000 }),
      op: fc.constantFrom('c', 'c', 'u', 'r', 'd'),
      lsn: fc.bigInt({ min: ctx.lsnMin, max: ctx.lsnMax }),
      schemas: fc.boolean(),
      nullables: fc.boolean(),
    })
    .map((r) => {
      const username = `hostile.${r.user}`;
      const row: JsonObj = {
        id: r.id,
        username,
        domain: r.domain,
        contact: `sip:${username}@192.0.2.7:${r.port};transport=udp`,
        received: r.nullables ? null : `sip:198.51.100.9:${r.port}`,
        path: null,
        expires: BigInt(r.expiresS) * 1_000_000n,
        q: r.q,
        callid: `hostile-${r.id}-${r.cseq}@192.0.2.7`,
        cseq: r.cseq,
        last_modified: BigInt(r.expiresS - 3600) * 1_000_000n,
        flags: 0,
        cflags: r.nullables ? null : 'NAT',
        user_agent: 'hostile/1.0',
        socket: r.nullables ? null : 'udp:192.0.2.10:5060',
        methods: r.nullables ? null : 8191,
        sip_instance: null,
        attr: null,
      };
      const del = r.op === 'd';
      const payload: JsonObj = {
        before: del ? row : null,
        after: del ? null : row,
        source: {
          version: '3.6.1.Final',
          connector: 'postgresql',
          name: ctx.prefix,
          ts_ms: 1_795_966_033_824n,
          snapshot: r.op === 'r' ? 'true' : 'false',
          db: ctx.db,
          sequence: `[null,"${r.lsn}"]`,
          ts_us: 1_795_966_033_824_987n,
          ts_ns: 1_795_966_033_824_987_000n,
          schema: 'public',
          table: 'location',
          txId: 733,
          lsn: r.lsn,
          xmin: null,
          origin: null,
          origin_lsn: null,
        },
        transaction: null,
        op: r.op,
        ts_ms: 1_795_966_034_091n,
        ts_us: 1_795_966_034_091_825n,
        ts_ns: 1_795_966_034_091_825_400n,
      };
      const value: JsonObj = r.schemas ? { schema: envelopeSchema(ctx), payload } : payload;
      return { value, payload, image: del ? 'before' : 'after', id: r.id, schemas: r.schemas } satisfies Base;
    });

const text = (v: Json): string => stringify(v) ?? 'null';
const bytes = (v: Json): Buffer => Buffer.from(text(v), 'utf8');
const keyOf = (b: Base): Buffer => Buffer.from(`{"id":${b.id}}`);
/** A deep copy (the base is shared by the mutation's closure). */
const clone = <T extends Json>(v: T): T => {
  if (v === null || typeof v !== 'object' || v instanceof LosslessNumber) return v;
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
};

function rowOf(b: Base): JsonObj {
  return b.payload[b.image] as JsonObj;
}

/** A JSON value of another type than the column's. */
const otherJson = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer().map((n) => n as Json),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => n as Json),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }).map((o) => o as Json),
);

function typeOf(v: Json | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint' || v instanceof LosslessNumber) return 'number';
  return typeof v;
}

const wrongType = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .tuple(
      fc.constantFrom(
        ...COLUMN_NAMES.map((c) => `row.${c}`),
        'op',
        'source',
        'source.connector',
        'source.lsn',
        'source.ts_ms',
        'source.db',
        'source.table',
        'source.schema',
        'source.snapshot',
        'source.txId',
        'image',
        'payload',
      ),
      otherJson,
    )
    .filter(([path, v]) => {
      const cur = path.startsWith('row.')
        ? rowOf(b)[path.slice(4)]
        : path.startsWith('source.')
          ? (b.payload.source as JsonObj)[path.slice(7)]
          : undefined;
      return path.startsWith('row.') || path.startsWith('source.') ? typeOf(v) !== typeOf(cur) : true;
    })
    .map(([path, v]) => {
      const value = clone(b.value);
      const payload = (b.schemas ? value.payload : value) as JsonObj;
      let expect: HostileRecord['expect'] = [
        'WRONG_TYPE',
        'MISSING_FIELD',
        'OUT_OF_RANGE',
        'NOT_AN_ENVELOPE',
        'UNKNOWN_OP',
        'UNKNOWN_CONNECTOR',
        'BEFORE_IMAGE_INCOMPLETE',
      ];
      if (path.startsWith('row.')) {
        const col = path.slice(4);
        (payload[b.image] as JsonObj)[col] = v;
        // q is a float: an integer is still a number; a nullable column may hold null.
        // A nullable column held null and now holds a value of its own type: that is a valid row.
        const ownType = STRING_COLUMNS.includes(col) ? typeof v === 'string' : typeof v === 'number';
        if ((v === null && NULLABLE.has(col)) || (col === 'q' && typeof v === 'number') || ownType) expect = 'decode-or-reject';
        // A delete's before image with an empty/absent AOR column is BEFORE_IMAGE_INCOMPLETE.
      } else if (path.startsWith('source.')) {
        (payload.source as JsonObj)[path.slice(7)] = v;
        // Optional source fields may be null; snapshot may be a boolean.
        if (v === null && ['txId', 'snapshot'].includes(path.slice(7))) expect = 'decode-or-reject';
        if (typeof v === 'boolean' && path === 'source.snapshot') expect = 'decode-or-reject';
      } else if (path === 'op') {
        payload.op = v;
      } else if (path === 'source') {
        payload.source = v;
      } else if (path === 'image') {
        payload[b.image] = v;
        if (v === null && b.image === 'before') expect = ['BEFORE_IMAGE_INCOMPLETE'];
      } else {
        if (b.schemas) value.payload = v;
        else
          return {
            kind: 'wrong-type',
            detail: `value := ${text(v).slice(0, 40)}`,
            key: keyOf(b),
            value: bytes(v),
            expect: v === null ? 'decode-or-reject' : expect,
          } satisfies HostileRecord;
        // {"schema": ..., "payload": null} with a schema is not a tombstone.
      }
      return {
        kind: 'wrong-type',
        detail: `${path} := ${text(v).slice(0, 40)}`,
        key: keyOf(b),
        value: bytes(value),
        expect,
      } satisfies HostileRecord;
    });

const HUGE_CHARS = ['a', 'é', '😀', '"', '\\', '\u0001', ' ', '\u2028'];

const hugeValue = (b: Base, ctx: HostileContext): fc.Arbitrary<HostileRecord> =>
  fc
    .oneof(
      // A string longer than its VARCHAR column.
      fc.record({
        what: fc.constant('string' as const),
        col: fc.constantFrom(...STRING_COLUMNS),
        ch: fc.constantFrom(...HUGE_CHARS),
        len: fc.oneof(fc.integer({ min: 256, max: 2048 }), fc.integer({ min: 2048, max: 64 * 1024 })),
      }),
      // An integer outside int32 / int64, or a 400-digit number.
      fc.record({
        what: fc.constant('int' as const),
        col: fc.constantFrom(...INT_COLUMNS, 'expires', 'last_modified', 'source.lsn', 'source.ts_ms', 'source.txId'),
        n: fc.oneof(
          fc.bigInt({ min: 2n ** 31n, max: 2n ** 63n - 1n }),
          fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 31n) - 1n }),
          fc.bigInt({ min: 2n ** 63n, max: 2n ** 200n }),
          fc.integer({ min: 300, max: 2000 }).map((d) => BigInt('9'.repeat(d))),
        ),
      }),
      // A float that does not fit a double, or an exponent.
      fc.record({
        what: fc.constant('float' as const),
        col: fc.constant('q'),
        t: fc.constantFrom('1e400', '-1e400', '1e-400', '123456789012345678901234567890e300'),
      }),
      // Many extra columns (a wide row).
      fc.record({ what: fc.constant('wide' as const), n: fc.integer({ min: 100, max: 5000 }) }),
    )
    .map((h) => {
      const value = clone(b.value);
      const payload = (b.schemas ? value.payload : value) as JsonObj;
      const row = payload[b.image] as JsonObj;
      let detail: string;
      let expect: HostileRecord['expect'];
      if (h.what === 'string') {
        // Keep the message under the broker's limit: each character is at most 6 bytes of JSON.
        const len = Math.max(LENGTH[h.col]! + 1, Math.min(h.len, Math.floor((ctx.maxBytes - 8192) / 6)));
        row[h.col] = h.ch.repeat(len);
        detail = `${b.image}.${h.col} := ${len} x ${JSON.stringify(h.ch)}`;
        expect = ['OVERSIZED_VALUE'];
      } else if (h.what === 'int') {
        if (h.col.startsWith('source.')) (payload.source as JsonObj)[h.col.slice(7)] = h.n;
        else row[h.col] = h.n;
        detail = `${h.col} := ${String(h.n).slice(0, 30)}${String(h.n).length > 30 ? '…' : ''}`;
        // Out of int32 in an int32 column, out of int64 anywhere; a timestamp beyond the calendar.
        expect = ['OUT_OF_RANGE', 'WRONG_TYPE'];
        // source.ts_ms / txId / lsn and the DATETIMEs are int64: a value inside int64 may be accepted there.
        // The key `id` is read as int64 (MySQL's INT UNSIGNED id arrives as int64).
        if (
          h.n >= -(2n ** 63n) &&
          h.n < 2n ** 63n &&
          ['id', 'expires', 'last_modified', 'source.ts_ms', 'source.txId', 'source.lsn'].includes(h.col)
        )
          expect = 'decode-or-reject';
      } else if (h.what === 'float') {
        row.q = new LosslessNumber(h.t);
        detail = `q := ${h.t}`;
        // 1e-400 underflows to 0: a valid double.
        expect = h.t === '1e-400' ? 'decode-or-reject' : ['OUT_OF_RANGE'];
      } else {
        for (let i = 0; i < h.n; i++) row[`extra_${i}`] = `v${i}`;
        detail = `${h.n} extra columns`;
        expect = 'decode-or-reject';
      }
      return { kind: 'huge-value', detail, key: keyOf(b), value: bytes(value), expect } satisfies HostileRecord;
    });

/** Byte sequences that are not UTF-8: stray continuation, overlong, surrogates, truncated, 0xFF. */
const BAD_UTF8 = [
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xff],
  [0xfe],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
];

const invalidUtf8 = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc.oneof({ weight: 4, arbitrary: invalidBytes(b) }, { weight: 1, arbitrary: oddEscapes(b) });

/**
 * Valid UTF-8 JSON whose strings hold what no UTF-8 text column can: a NUL (PostgreSQL text refuses
 * it) or a lone surrogate (no UTF-8 encoding), written as JSON escapes, within the column's length.
 * The decoder refuses them (WRONG_TYPE): accepted, a NUL stalled the projection for good.
 */
const oddEscapes = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .tuple(
      fc.constantFrom('username', 'contact', 'callid', 'user_agent', 'received', 'attr'),
      fc.constantFrom('\\u0000', '\\ud800', '\\udfff', '\\ud83d', '\\u0000\\u0000'),
    )
    .map(([col, esc]) => {
      const good = text(b.value);
      const marker = `"${col}":"`;
      const i = good.lastIndexOf(marker);
      const value = i < 0 ? good : `${good.slice(0, i + marker.length)}${esc}${good.slice(i + marker.length)}`;
      // A delete missing a NOT NULL AOR column is refused for that first; otherwise the odd string is.
      const expect: HostileRecord['expect'] = i < 0 ? 'decode-or-reject' : ['WRONG_TYPE'];
      return {
        kind: 'invalid-utf8',
        detail: `${b.image}.${col} starts with ${esc}`,
        key: keyOf(b),
        value: Buffer.from(value),
        expect,
      } satisfies HostileRecord;
    });

const invalidBytes = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .tuple(fc.constantFrom(...BAD_UTF8), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('inside-a-string', 'anywhere'))
    .map(([bad, where, mode]) => {
      const good = bytes(b.value);
      let at: number;
      if (mode === 'inside-a-string') {
        // Inside the value of a string column ("username":"...), where a lenient decoder would keep it.
        const col = `"${STRING_COLUMNS[Math.floor(where * STRING_COLUMNS.length) % STRING_COLUMNS.length]}":"`;
        const i = good.lastIndexOf(col);
        at = i >= 0 ? i + col.length : Math.floor(where * good.length);
      } else {
        at = Math.floor(where * good.length);
      }
      const value = Buffer.concat([good.subarray(0, at), Buffer.from(bad), good.subarray(at)]);
      return {
        kind: 'invalid-utf8',
        detail: `bytes ${Buffer.from(bad).toString('hex')} at ${at}`,
        key: keyOf(b),
        value,
        expect: ['MALFORMED_JSON'],
      } satisfies HostileRecord;
    });

const unknownOp = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .oneof(
      fc.constantFrom('m', 'C', 'U', 'D', 'R', 'T', 'create', 'update', 'delete', '', ' c', 'c ', 'cu', '\u0000', 'ｃ', 'é'),
      fc.string({ maxLength: 8 }),
    )
    .filter((op) => !['c', 'u', 'd', 'r', 't'].includes(op))
    .map((op) => {
      const value = clone(b.value);
      ((b.schemas ? value.payload : value) as JsonObj).op = op;
      return {
        kind: 'unknown-op',
        detail: `op := ${JSON.stringify(op)}`,
        key: keyOf(b),
        value: bytes(value),
        expect: ['UNKNOWN_OP'],
      } satisfies HostileRecord;
    });

const truncatedJson = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }).map((f) => {
    const good = bytes(b.value);
    // Cut on a character boundary, keeping at least one byte: any proper prefix of an object is invalid JSON.
    let at = Math.max(1, Math.floor(f * (good.length - 1)));
    while (at > 1 && (good[at]! & 0xc0) === 0x80) at--;
    return {
      kind: 'truncated-json',
      detail: `cut at ${at} of ${good.length}`,
      key: keyOf(b),
      value: good.subarray(0, at),
      expect: ['MALFORMED_JSON'],
    } satisfies HostileRecord;
  });

const garbage = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .oneof(
      fc.uint8Array({ minLength: 1, maxLength: 256 }).map((a) => ({ v: Buffer.from(a), d: 'random bytes' })),
      fc.jsonValue({ maxDepth: 3 }).map((j) => ({ v: Buffer.from(JSON.stringify(j) ?? 'null'), d: 'random JSON' })),
      fc
        .constantFrom(
          '',
          ' ',
          '{}',
          '[]',
          '"c"',
          '0',
          'true',
          '{"payload":{}}',
          '{"schema":{},"payload":{"op":"c"}}',
          '{"op":"c"}',
          '{"source":{}}',
          '{"op":"c","source":null}',
          '\ufeff{}',
          'NaN',
          '{"a":1}{"b":2}',
        )
        .map((s) => ({ v: Buffer.from(s), d: JSON.stringify(s) })),
      // Deep nesting (a Debezium value is about 7 levels deep), inside an envelope or bare.
      fc
        .tuple(fc.integer({ min: 50, max: 60_000 }), fc.constantFrom('[', '{"a":', '{"op":"c","source":{},"after":{"x":'))
        .map(([n, open]) => {
          const close = open === '[' ? ']' : '}'.repeat(open.split('{').length - 1);
          const v = `${open.repeat(n)}${open === '[' ? '' : '1'}${close.repeat(n)}`;
          return { v: Buffer.from(v), d: `${n} levels of ${open}` };
        }),
      // A key that is not JSON, with a good value: the key is only carried along.
      fc.constant({ v: null as Buffer | null, d: 'garbage key' }),
    )
    .map(({ v, d }) => {
      if (v === null)
        return {
          kind: 'garbage',
          detail: d,
          key: Buffer.from([0xff, 0x00, 0xfe]),
          value: bytes(b.value),
          expect: 'decode-or-reject',
        } satisfies HostileRecord;
      // Random JSON can be null (a tombstone) or, in theory, an envelope: anything documented goes.
      return { kind: 'garbage', detail: d, key: keyOf(b), value: v, expect: 'decode-or-reject' } satisfies HostileRecord;
    });

const schemaDrift = (b: Base): fc.Arbitrary<HostileRecord> =>
  fc
    .oneof(
      fc.record({
        m: fc.constant('extra' as const),
        name: fc.oneof(fc.stringMatching(/^[a-z_]{1,12}$/), fc.constantFrom('contact_id', 'kv_store', 'ID', 'Username', 'reg_id', '__op')),
        v: otherJson,
      }),
      fc.record({ m: fc.constant('missing' as const), col: fc.constantFrom(...COLUMN_NAMES) }),
      fc.record({
        m: fc.constant('renamed' as const),
        col: fc.constantFrom(...COLUMN_NAMES),
        to: fc.constantFrom('contact_id', 'kv_store', 'user_name', 'CSEQ', 'expires_at', 'x'),
      }),
      fc.record({
        m: fc.constant('schema-type' as const),
        col: fc.constantFrom(...COLUMN_NAMES),
        type: fc.constantFrom(
          'int8',
          'int16',
          'int32',
          'int64',
          'float',
          'double',
          'boolean',
          'string',
          'bytes',
          'array',
          'map',
          'struct',
          'int128',
          'uuid',
          '',
        ),
      }),
      fc.record({
        m: fc.constant('schema-name' as const),
        col: fc.constantFrom('expires', 'last_modified', 'id', 'cseq', 'username'),
        name: fc.constantFrom(
          'io.debezium.time.Timestamp',
          'io.debezium.time.NanoTimestamp',
          'io.debezium.time.ZonedTimestamp',
          'io.debezium.time.Date',
          'org.apache.kafka.connect.data.Decimal',
          'org.apache.kafka.connect.data.Timestamp',
          'something.Else',
          null,
        ),
      }),
      fc.record({
        m: fc.constant('schema-shape' as const),
        how: fc.constantFrom(
          'not-struct',
          'no-fields',
          'fields-not-array',
          'field-without-name',
          'schema-string',
          'schema-array',
          'payload-missing',
          'drop-after-schema',
          'old-debezium-source',
        ),
      }),
      fc.record({ m: fc.constant('schemaless-wrapper' as const), how: fc.constantFrom('schema-null', 'double-wrap', 'payload-string') }),
    )
    .map((d) => {
      const value = clone(b.value);
      const payload = (b.schemas ? value.payload : value) as JsonObj;
      const row = payload[b.image] as JsonObj;
      const rowSchemaFields = (): JsonObj[] | null => {
        if (!b.schemas) return null;
        const s = (value.schema as JsonObj).fields as JsonObj[];
        return (s.find((f) => f.field === b.image)!.fields as JsonObj[]) ?? null;
      };
      let detail: string;
      let expect: HostileRecord['expect'];
      switch (d.m) {
        case 'extra': {
          row[d.name] = d.v;
          detail = `${b.image} gains column ${d.name}`;
          expect = COLUMN_NAMES.includes(d.name)
            ? 'decode-or-reject'
            : d.name === 'contact_id' || d.name === 'kv_store'
              ? ['TABLE_MISMATCH']
              : 'decode-or-reject';
          if (COLUMN_NAMES.includes(d.name)) detail = `${b.image}.${d.name} overwritten`;
          break;
        }
        case 'missing': {
          Reflect.deleteProperty(row, d.col);
          detail = `${b.image} loses column ${d.col}`;
          expect =
            b.image === 'before' && ['username', 'contact', 'callid'].includes(d.col)
              ? ['BEFORE_IMAGE_INCOMPLETE', 'MISSING_FIELD']
              : ['MISSING_FIELD'];
          break;
        }
        case 'renamed': {
          row[d.to] = row[d.col]!;
          Reflect.deleteProperty(row, d.col);
          for (const f of rowSchemaFields() ?? []) if (f.field === d.col) f.field = d.to;
          detail = `${b.image}.${d.col} renamed ${d.to}`;
          expect =
            d.to === 'contact_id' || d.to === 'kv_store'
              ? ['TABLE_MISMATCH']
              : b.image === 'before' && ['username', 'contact', 'callid'].includes(d.col)
                ? ['BEFORE_IMAGE_INCOMPLETE', 'MISSING_FIELD']
                : ['MISSING_FIELD'];
          break;
        }
        case 'schema-type': {
          const f = rowSchemaFields()?.find((x) => x.field === d.col);
          if (f) f.type = d.type;
          detail = `schema of ${b.image}.${d.col} says ${d.type || '""'}${b.schemas ? '' : ' (no schemas: no effect)'}`;
          expect = 'decode-or-reject';
          break;
        }
        case 'schema-name': {
          const f = rowSchemaFields()?.find((x) => x.field === d.col);
          if (f) {
            if (d.name === null) delete f.name;
            else f.name = d.name;
          }
          detail = `schema of ${b.image}.${d.col} named ${d.name}${b.schemas ? '' : ' (no schemas: no effect)'}`;
          expect = 'decode-or-reject';
          break;
        }
        case 'schema-shape': {
          detail = `schema: ${d.how}`;
          expect = b.schemas ? ['NOT_AN_ENVELOPE'] : 'decode-or-reject';
          if (!b.schemas) break;
          const schema = value.schema as JsonObj;
          if (d.how === 'not-struct') schema.type = 'map';
          else if (d.how === 'no-fields') delete schema.fields;
          else if (d.how === 'fields-not-array') schema.fields = { before: null };
          else if (d.how === 'field-without-name') delete (schema.fields as JsonObj[])[0]!.field;
          else if (d.how === 'schema-string') value.schema = 'struct';
          else if (d.how === 'schema-array') value.schema = [];
          else if (d.how === 'payload-missing') delete value.payload;
          else if (d.how === 'drop-after-schema') {
            schema.fields = (schema.fields as JsonObj[]).filter((f) => f.field !== b.image);
            expect = 'decode-or-reject';
          } else {
            // Debezium 1.x: snapshot as a boolean, no ts_us/ts_ns/sequence.
            const src = payload.source as JsonObj;
            src.snapshot = false;
            delete src.sequence;
            delete src.ts_us;
            delete src.ts_ns;
            expect = 'decode-or-reject';
          }
          break;
        }
        case 'schemaless-wrapper': {
          detail = `wrapper: ${d.how}`;
          let out: Json;
          if (d.how === 'schema-null') {
            out = { schema: null, payload };
            expect = 'decode-or-reject';
          } else if (d.how === 'double-wrap') {
            out = { schema: null, payload: { schema: null, payload } };
            expect = ['NOT_AN_ENVELOPE'];
          } else {
            out = { schema: null, payload: text(payload) };
            expect = ['NOT_AN_ENVELOPE'];
          }
          return { kind: 'schema-drift', detail, key: keyOf(b), value: bytes(out), expect } satisfies HostileRecord;
        }
      }
      return { kind: 'schema-drift', detail, key: keyOf(b), value: bytes(value), expect } satisfies HostileRecord;
    });

/** One hostile record of the given kind (or any kind). */
export function hostileRecord(
  ctx: HostileContext = DEFAULT_CONTEXT,
  kinds: readonly HostileKind[] = HOSTILE_KINDS,
): fc.Arbitrary<HostileRecord> {
  const byKind: Record<HostileKind, (b: Base) => fc.Arbitrary<HostileRecord>> = {
    'wrong-type': wrongType,
    'huge-value': (b) => hugeValue(b, ctx),
    'invalid-utf8': invalidUtf8,
    'unknown-op': unknownOp,
    'truncated-json': truncatedJson,
    'schema-drift': schemaDrift,
    garbage,
  };
  return fc
    .tuple(baseArb(ctx), fc.constantFrom(...kinds))
    .chain(([b, k]) => byKind[k](b))
    .filter((r) => r.value === null || r.value.length <= ctx.maxBytes)
    .map((r) => Object.assign(r, { [fc.toStringMethod]: () => describeHostile(r) }));
}

/** One line for failure reports: kind, what was broken, the start of the value. */
export function describeHostile(r: HostileRecord): string {
  const v = r.value === null ? 'null' : JSON.stringify(r.value.subarray(0, 300).toString('latin1'));
  return `${r.kind}: ${r.detail} (${r.value?.length ?? 0} bytes, expect ${r.expect === 'decode-or-reject' ? 'decode or any reason' : r.expect.join('|')}) value ${v}`;
}

/** `n` hostile records from a seed (deterministic), round-robin over the kinds. */
export function sampleHostile(n: number, seed: number, ctx: HostileContext = DEFAULT_CONTEXT): HostileRecord[] {
  const out: HostileRecord[] = [];
  const perKind = Math.ceil(n / HOSTILE_KINDS.length);
  HOSTILE_KINDS.forEach((k, i) => {
    out.push(...fc.sample(hostileRecord(ctx, [k]), { numRuns: perKind, seed: seed + i }));
  });
  // Interleave the kinds deterministically.
  const mixed = fc.sample(fc.shuffledSubarray(out, { minLength: out.length, maxLength: out.length }), { numRuns: 1, seed })[0]!;
  return mixed.slice(0, n);
}
