interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the items added during one turn of the event loop and processes them with one call,
 * e.g. the event deliveries handed to a subscriber together: one query or transaction for all
 * of them instead of one each. Every caller is answered when its batch is done. A batch that
 * fails is processed again item by item, so a bad item fails alone and its neighbours succeed.
 */
export class TickBatch<T> {
  private pending: Pending<T>[] = [];

  constructor(private readonly process: (items: T[]) => Promise<void>) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => void this.flush());
      this.pending.push({ item, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      await this.process(batch.map((p) => p.item));
      for (const p of batch) p.resolve();
    } catch (error) {
      if (batch.length === 1) {
        (batch[0] as Pending<T>).reject(error);
        return;
      }
      await Promise.all(
        batch.map((p) =>
          this.process([p.item]).then(
            () => p.resolve(),
            (alone: unknown) => p.reject(alone),
          ),
        ),
      );
    }
  }
}
