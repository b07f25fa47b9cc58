/** Collects callbacks registered during a transaction and runs them after it commits. */
export class AfterCommit {
  private readonly callbacks: Array<() => void | Promise<void>> = [];

  add(fn: () => void | Promise<void>): void {
    this.callbacks.push(fn);
  }

  /** Runs every callback; a failing one is reported to `onError` and does not stop the others. */
  async run(onError: (error: unknown) => void): Promise<void> {
    for (const fn of this.callbacks) {
      try {
        await fn();
      } catch (error) {
        onError(error);
      }
    }
  }
}

/** Callbacks run after commit must never turn a committed transaction into a failure. */
export function reportAfterCommitError(error: unknown): void {
  process.emitWarning(
    `after-commit callback failed: ${(error as Error)?.message ?? String(error)}`,
    'IrisAfterCommit',
  );
}
