import type { UsrlocMessage } from '../cluster/usrloc/index.js';

/**
 * The delete packets of the last `horizonMs` (at most `max` of them), oldest first: a registrar
 * that comes back is sent them before the table, because a deleted row cannot be read back.
 */
export class DeleteJournal {
  private readonly entries: Array<{ atMs: number; messages: UsrlocMessage[] }> = [];
  private size = 0;

  constructor(
    private readonly horizonMs: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  add(deletes: UsrlocMessage[]): void {
    if (deletes.length === 0) return;
    const now = this.now();
    this.entries.push({ atMs: now, messages: deletes });
    this.size += deletes.length;
    while (this.entries.length > 0 && (this.entries[0]!.atMs < now - this.horizonMs || this.size > this.max)) {
      this.size -= this.entries.shift()!.messages.length;
    }
  }

  /** A copy of the packets kept, oldest first. */
  messages(): UsrlocMessage[] {
    return this.entries.flatMap((e) => e.messages);
  }
}
