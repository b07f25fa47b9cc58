/** Remembers answers by key (message control ids, idempotency keys), forgetting the oldest past a cap. */
export class AnswerMemory<T> {
  private readonly answers = new Map<string, T>();

  constructor(private readonly cap: number) {}

  get(key: string): T | undefined {
    return this.answers.get(key);
  }

  set(key: string, answer: T): void {
    this.answers.set(key, answer);
    if (this.answers.size > this.cap) {
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
  }

  clear(): void {
    this.answers.clear();
  }
}
