/**
 * Writes an apply session holds back so that they travel with its COMMIT: statements whose result
 * the applier does not need (the target rows' UPDATE, the AOR counters, the binding states), as SQL
 * text with their values written in (PostgreSQL: only a small batch's, see pgSession.ts). A batch
 * that refreshes a few bindings then makes three round trips (BEGIN + offsets lock + bindings
 * read, the AOR lock, these writes + offset + COMMIT) instead of six: at low rates the round
 * trips, not the rows, are what a batch costs.
 *
 * Order: the statements run in the order they were added, and before anything the session sends
 * after them: `flush()` sends them at once (the applier calls it before any other statement of the
 * session once a plan is written: apply.ts), `take()` hands them to the COMMIT's round trip.
 * Past `maxBytes` of SQL they are sent on their own before more are added.
 */
export class DeferredWrites {
  private statements: string[] = [];
  private bytes = 0;

  constructor(
    /** Sends statements joined by `;` in one round trip (a simple query / a multi-statement query). */
    private readonly send: (sql: string) => Promise<unknown>,
    private readonly maxBytes = 4 << 20,
  ) {}

  async add(sql: string): Promise<void> {
    if (this.bytes + sql.length > this.maxBytes) await this.flush();
    this.statements.push(sql);
    this.bytes += sql.length;
  }

  async flush(): Promise<void> {
    if (this.statements.length > 0) await this.send(this.take().join('; '));
  }

  /** The statements held, in order (one statement each, no trailing `;`); the session no longer holds them. */
  take(): string[] {
    const taken = this.statements;
    this.statements = [];
    this.bytes = 0;
    return taken;
  }
}
