interface KeyState {
  /** The run every caller arriving now joins: it has not started, so it will see their commits. */
  queued?: Promise<void>;
  /** The run in progress; a caller arriving now needs the next one (it may have read too early). */
  running?: Promise<void>;
}

/**
 * One run of a recomputation per key at a time, shared by every caller that asks before it
 * starts. A caller is answered by a run that started after its call, never by one already in
 * progress, so a recomputation "from the stored state" always includes what the caller
 * committed before asking. A burst of N requests for one key costs at most two runs.
 *
 * At most `maxRunning` runs (all keys together) are in progress; a run waiting for its turn is
 * still open to new callers of its key. So callers may be many (every dose of a Bundle handed
 * over at once) while the work they share stays bounded, and the doses of one patient meet in
 * one run instead of the later ones arriving after it started.
 */
export class Coalescer {
  private readonly keys = new Map<string, KeyState>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly maxRunning = Number.POSITIVE_INFINITY) {
    if (!(maxRunning >= 1)) throw new RangeError('maxRunning must be at least 1');
  }

  run(key: string, fn: () => Promise<unknown>): Promise<void> {
    let state = this.keys.get(key);
    if (!state) {
      state = {};
      this.keys.set(key, state);
    }
    if (state.queued) return state.queued;
    const s = state;
    const before = s.running ?? Promise.resolve();
    // The run starts on a later turn of the event loop, after the one in progress settles, so
    // callers of this same turn (deliveries handed over together) join it.
    const queued: Promise<void> = before
      .catch(() => undefined)
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => this.slot())
      .then(async () => {
        s.queued = undefined;
        s.running = queued;
        try {
          await fn();
        } finally {
          this.release();
        }
      })
      .finally(() => {
        if (s.running === queued) s.running = undefined;
        if (!s.running && !s.queued) this.keys.delete(key);
      });
    s.queued = queued;
    return queued;
  }

  /** Keys with a run queued or in progress (tests). */
  get size(): number {
    return this.keys.size;
  }

  private slot(): Promise<void> | undefined {
    if (this.running < this.maxRunning) {
      this.running += 1;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the longest waiting run, or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}
