/**
 * The projection's offsets as reported to Kafka (its consumer group's committed offsets). They are
 * informational, for lag tools: the offsets stored in the target, in the transaction that writes
 * the rows, are the only authority (projection.ts). So they are sent at most once per interval,
 * each report carrying every partition's latest next offset, instead of one OffsetCommit round
 * trip after every batch (at low rates a batch holds a few events, and that round trip was one
 * of the ~8 each batch waited for).
 *
 * - `note()` records a partition's next offset; when the interval has passed since the last
 *   report it reports now (awaited: a membership error fails the batch, as kafkajs's own commit
 *   would), otherwise a timer reports at the end of the interval, so an idle projection's group
 *   is never left more than one interval behind.
 * - `reset()` forgets what is pending (a rebalance: those partitions may be another member's now).
 * - `close()` reports what is pending and reports nothing after it (stop, before the consumer
 *   leaves the group).
 * A report that fails keeps its offsets pending for the next one (unless a reset came meanwhile
 * or a newer offset was noted); one the timer sends passes its error to `onError` (a rebalance
 * or a stopping consumer).
 */
export interface OffsetReportsOptions {
  topic: string;
  /** kafkajs `consumer.commitOffsets`. */
  commit(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  intervalMs: number;
  onError(err: unknown): void;
  now?: () => number;
}

export class OffsetReports {
  private readonly pending = new Map<number, string>();
  private lastReport = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Bumped by reset(): a failed report restores its offsets only if no reset came meanwhile. */
  private epoch = 0;
  private readonly now: () => number;

  constructor(private readonly opts: OffsetReportsOptions) {
    this.now = opts.now ?? Date.now;
  }

  async note(partition: number, nextOffset: string): Promise<void> {
    if (this.closed) return;
    this.pending.set(partition, nextOffset);
    const wait = this.lastReport + this.opts.intervalMs - this.now();
    if (wait <= 0) return this.report();
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.report().catch((e: unknown) => this.opts.onError(e));
      }, wait);
      this.timer.unref();
    }
  }

  reset(): void {
    this.epoch++;
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.report();
  }

  private async report(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    const sent = new Map(this.pending);
    const epoch = this.epoch;
    this.pending.clear();
    this.lastReport = this.now();
    try {
      await this.opts.commit([...sent].map(([partition, offset]) => ({ topic: this.opts.topic, partition, offset })));
    } catch (e) {
      if (epoch === this.epoch)
        for (const [partition, offset] of sent) if (!this.pending.has(partition)) this.pending.set(partition, offset);
      throw e;
    }
  }
}
