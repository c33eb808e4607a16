/**
 * Produces the hostile records (bench/soak/hostile.ts) raw into the real CDC topic, next to
 * Debezium's traffic, and keeps the books the soak checks against at the end:
 *
 * - each record is first run through the product's own translation (decode + log encoding), which
 *   is what the ingest will do with it: a refusal is an expected dead letter, at the offset the
 *   broker gave the record, with that reason;
 * - a record that decodes (an extra column, a null in a nullable column, ...) is a real change
 *   of a binding that does not exist in the legacy table. It is sent only when it is safe — its
 *   row key cannot be a real row's (outside 1..idMin-1), it is not a TRUNCATE — and, if it is an
 *   UPSERT, followed by a well-formed DELETE of the same row (same key, same AOR, next LSN), so the
 *   target must end without it. Records that are neither refused nor safe are replaced by others.
 */
import { LosslessNumber, parse, stringify } from 'lossless-json';
import fc from 'fast-check';
import type { Kafka, Producer } from 'kafkajs';
import { createDecoder, DecodeError, type Decoder, type DecodeReason } from '../../src/cdc/index.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { translate } from '../../src/ingest/translate.js';
import { hostileRecord, type HostileContext, type HostileKind, type HostileRecord } from './hostile.js';

export interface HostileBooks {
  /** Records produced (compensating deletes not included). */
  sent: number;
  byKind: Map<HostileKind, number>;
  /** CDC offset -> the reason the ingest must dead-letter it with. */
  expectedLetters: Map<string, DecodeReason>;
  /** Decoded records that were sent (UPSERTs each followed by a compensating DELETE). */
  acceptedUpserts: number;
  acceptedDeletes: number;
  tombstones: number;
  /** Generated but not sent: decodable and unsafe (TRUNCATE, a real row's key, no valid compensation). */
  discarded: number;
}

type Json = null | boolean | string | LosslessNumber | Json[] | { [k: string]: Json };
type JsonObj = { [k: string]: Json };

const isObj = (v: Json | undefined): v is JsonObj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof LosslessNumber);

type Prediction = { kind: 'reject'; reason: DecodeReason } | { kind: 'tombstone' } | { kind: 'event'; event: RegistrationEvent };

export class HostileFeed {
  readonly books: HostileBooks = {
    sent: 0,
    byKind: new Map(),
    expectedLetters: new Map(),
    acceptedUpserts: 0,
    acceptedDeletes: 0,
    tombstones: 0,
    discarded: 0,
  };
  private readonly decoder: Decoder;
  private readonly producer: Producer;
  private readonly stream: Iterator<HostileRecord>;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly ctx: HostileContext,
    private readonly logPartitions: number,
    seed: number,
    decoderConfig: { name: string; timeZone: string; caseSensitive: boolean },
  ) {
    this.decoder = createDecoder({ ...decoderConfig, release: '2.1' });
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.stream = infinite(hostileRecord(ctx), seed);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }

  private predict(value: Buffer | null): Prediction {
    const t = translate(this.decoder, this.logPartitions, [{ topic: this.topic, partition: 0, offset: '0', key: null, value }]);
    if (t.failures.length > 0) return { kind: 'reject', reason: t.failures[0]!.reason as DecodeReason };
    const d = this.decoder.decode(value);
    return d.kind === 'tombstone' ? { kind: 'tombstone' } : { kind: 'event', event: d.event };
  }

  /** A well-formed delete of the row the accepted UPSERT `r` wrote, at the next LSN; null if none decodes as one. */
  private compensation(r: HostileRecord, upsert: RegistrationEvent): Buffer | null {
    if (upsert.source.position.major >= 2n ** 63n - 2n) return null;
    let doc: Json;
    try {
      doc = parse(r.value!.toString('utf8')) as Json;
    } catch {
      return null;
    }
    if (!isObj(doc)) return null;
    const wrapped = Object.hasOwn(doc, 'payload');
    const payload = wrapped ? doc.payload : doc;
    if (!isObj(payload) || !isObj(payload.source) || !isObj(payload.after)) return null;
    payload.before = payload.after;
    payload.after = null;
    payload.op = 'd';
    payload.source.snapshot = 'false';
    payload.source.lsn = new LosslessNumber(String(upsert.source.position.major + 1n));
    if (wrapped && isObj(doc.schema) && Array.isArray(doc.schema.fields)) {
      const fields = doc.schema.fields;
      const after = fields.find((f) => isObj(f) && f.field === 'after');
      const i = fields.findIndex((f) => isObj(f) && f.field === 'before');
      if (isObj(after)) {
        const copy = { ...after, field: 'before' };
        if (i >= 0) fields[i] = copy;
        else fields.push(copy);
      } else if (i >= 0) fields.splice(i, 1);
    }
    const value = Buffer.from(stringify(doc as never) ?? 'null');
    try {
      const d = this.decoder.decode(value);
      if (d.kind !== 'event' || d.event.op !== 'DELETE') return null;
      const e = d.event;
      const same =
        e.source.rowKey === upsert.source.rowKey &&
        e.registration!.username === upsert.registration!.username &&
        e.registration!.domain === upsert.registration!.domain &&
        e.source.position.major > upsert.source.position.major;
      return same ? value : null;
    } catch (e) {
      if (e instanceof DecodeError) return null;
      throw e;
    }
  }

  /** The next record worth sending, with its compensation if it needs one. */
  private next(): { r: HostileRecord; p: Prediction; comp: Buffer | null } {
    for (;;) {
      const r = this.stream.next().value as HostileRecord;
      const p = this.predict(r.value);
      if (p.kind !== 'event') return { r, p, comp: null };
      const key = p.event.source.rowKey;
      const realRange = key >= 1n && key < BigInt(this.ctx.idMin);
      if (p.event.op === 'TRUNCATE' || realRange) {
        this.books.discarded++;
        continue;
      }
      if (p.event.op === 'DELETE') return { r, p, comp: null };
      const comp = this.compensation(r, p.event);
      if (comp) return { r, p, comp };
      this.books.discarded++;
    }
  }

  /**
   * Produces `n` hostile records (plus compensations), in requests of at most ~800 KB (the broker
   * refuses a record batch over 1 MiB); returns when every one is acknowledged.
   */
  async send(n: number): Promise<void> {
    type Msg = { key: Buffer | null; value: Buffer | null; partition: number; role: { r: HostileRecord; p: Prediction } | null };
    const chunks: Msg[][] = [[]];
    let size = 0;
    for (let k = 0; k < n; k++) {
      const item = this.next();
      const group: Msg[] = [{ key: item.r.key, value: item.r.value, partition: 0, role: { r: item.r, p: item.p } }];
      if (item.comp) group.push({ key: item.r.key, value: item.comp, partition: 0, role: null });
      const bytes = group.reduce((a, m) => a + (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64, 0);
      if (size + bytes > 800_000 && chunks.at(-1)!.length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks.at(-1)!.push(...group);
      size += bytes;
    }
    for (const chunk of chunks) {
      const meta = await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: chunk.map(({ key, value, partition }) => ({ key, value, partition })),
      });
      const base = BigInt(meta.find((m) => m.partition === 0)!.baseOffset!);
      chunk.forEach((m, i) => {
        if (!m.role) return;
        const { r, p } = m.role;
        this.books.sent++;
        this.books.byKind.set(r.kind, (this.books.byKind.get(r.kind) ?? 0) + 1);
        if (p.kind === 'reject') this.books.expectedLetters.set(String(base + BigInt(i)), p.reason);
        else if (p.kind === 'tombstone') this.books.tombstones++;
        else if (p.event.op === 'UPSERT') this.books.acceptedUpserts++;
        else this.books.acceptedDeletes++;
      });
    }
  }
}

/** An endless, deterministic stream of values of `arb`. */
function* infinite<T>(arb: fc.Arbitrary<T>, seed: number): Generator<T> {
  for (let round = 0; ; round++) yield* fc.sample(arb, { numRuns: 500, seed: seed + round * 7919 });
}
