export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long the circuit stays open before one probe delivery is let through. */
  cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { threshold: 5, cooldownMs: 30_000 };

/**
 * A per-subscriber circuit breaker (per process). While open the dispatcher claims nothing
 * for that subscriber; after the cool-down exactly one probe runs (half-open) and its outcome
 * closes or re-opens the circuit. Other subscribers are unaffected.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private current: BreakerState = 'closed';

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: BreakerState) => void = () => undefined,
  ) {}

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) {
      this.transition('half_open');
    }
    return this.current;
  }

  /** How many deliveries may start now: unlimited when closed, one probe when half-open. */
  allowance(): number {
    const state = this.state;
    if (state === 'closed') return Number.POSITIVE_INFINITY;
    if (state === 'half_open' && !this.probing) return 1;
    return 0;
  }

  /** Called when a delivery starts; in half-open state it is the probe. */
  started(): void {
    if (this.state === 'half_open') this.probing = true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') this.transition('closed');
  }

  failure(): void {
    this.failures += 1;
    this.probing = false;
    if (
      this.current === 'half_open' ||
      (this.current === 'closed' && this.failures >= this.options.threshold)
    ) {
      this.openedAt = this.now();
      this.transition('open');
    }
  }

  private transition(state: BreakerState): void {
    this.current = state;
    this.onChange(state);
  }
}
