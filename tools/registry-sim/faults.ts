import type { Faults } from './types.js';

export const NO_FAULTS: Faults = {
  latencyMs: 0,
  http5xxRate: 0,
  http429Rate: 0,
  retryAfterSeconds: 1,
  dropRate: 0,
  outage: false,
  outageMode: 'http503',
  forceAck: null,
  soapUnknownFaultRate: 0,
  seed: null,
};

/** What the transport must do with a request before (or instead of) handling it. */
export type TransportFault =
  | { kind: 'none'; delayMs: number }
  | { kind: 'drop'; delayMs: number }
  | { kind: 'status'; status: 503 | 429; retryAfterSeconds?: number; delayMs: number };

/** mulberry32: a tiny seedable PRNG, so a seeded fault run is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Holds the fault knobs, draws the random decisions and counts what it injected. */
export class FaultInjector {
  private faults: Faults;
  private random: () => number = Math.random;
  readonly injected: Record<string, number> = {};

  constructor(private readonly initial: Partial<Faults> = {}) {
    this.faults = { ...NO_FAULTS };
    this.set(initial);
  }

  get current(): Faults {
    return { ...this.faults };
  }

  set(update: Partial<Faults>): void {
    const next = { ...this.faults, ...update };
    validate(next);
    this.faults = next;
    if ('seed' in update) this.random = next.seed === null ? Math.random : seeded(next.seed);
  }

  reset(): void {
    this.faults = { ...NO_FAULTS };
    this.random = Math.random;
    for (const key of Object.keys(this.injected)) delete this.injected[key];
    this.set(this.initial);
  }

  /** Decides the transport-level fault for one SOAP/FHIR request. */
  transport(): TransportFault {
    const f = this.faults;
    const delayMs = this.delay();
    if (delayMs > 0) this.count('latency');
    if (f.outage) {
      this.count('outage');
      return f.outageMode === 'drop' ? { kind: 'drop', delayMs } : { kind: 'status', status: 503, delayMs };
    }
    if (this.hit(f.dropRate)) {
      this.count('drop');
      return { kind: 'drop', delayMs };
    }
    if (this.hit(f.http429Rate)) {
      this.count('http429');
      return { kind: 'status', status: 429, retryAfterSeconds: f.retryAfterSeconds, delayMs };
    }
    if (this.hit(f.http5xxRate)) {
      this.count('http5xx');
      return { kind: 'status', status: 503, delayMs };
    }
    return { kind: 'none', delayMs };
  }

  /** True when this SOAP call must answer an UnknownFault. */
  soapUnknownFault(): boolean {
    if (!this.hit(this.faults.soapUnknownFaultRate)) return false;
    this.count('soapUnknownFault');
    return true;
  }

  /** The acknowledgement code forced on VXUs, if any (counted when used). */
  forcedAck(): 'AE' | 'AR' | null {
    const forced = this.faults.forceAck;
    if (forced) this.count(`forceAck${forced}`);
    return forced;
  }

  private hit(rate: number): boolean {
    return rate > 0 && this.random() < rate;
  }

  private delay(): number {
    const l = this.faults.latencyMs;
    if (typeof l === 'number') return l;
    return Math.round(l[0] + this.random() * (l[1] - l[0]));
  }

  private count(name: string): void {
    this.injected[name] = (this.injected[name] ?? 0) + 1;
  }
}

function validate(f: Faults): void {
  for (const key of ['http5xxRate', 'http429Rate', 'dropRate', 'soapUnknownFaultRate'] as const) {
    const v = f[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${key} must be a number in 0..1`);
  }
  const l = f.latencyMs;
  const range = typeof l === 'number' ? [l, l] : l;
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !range.every((n) => typeof n === 'number' && n >= 0) ||
    range[0]! > range[1]!
  ) {
    throw new RangeError('latencyMs must be a number >= 0 or a [min, max] range');
  }
  if (typeof f.retryAfterSeconds !== 'number' || f.retryAfterSeconds < 0) {
    throw new RangeError('retryAfterSeconds must be a number >= 0');
  }
  if (typeof f.outage !== 'boolean') throw new RangeError('outage must be a boolean');
  if (f.outageMode !== 'http503' && f.outageMode !== 'drop')
    throw new RangeError("outageMode must be 'http503' or 'drop'");
  if (f.forceAck !== null && f.forceAck !== 'AE' && f.forceAck !== 'AR')
    throw new RangeError("forceAck must be 'AE', 'AR' or null");
  if (f.seed !== null && !Number.isInteger(f.seed)) throw new RangeError('seed must be an integer or null');
}
