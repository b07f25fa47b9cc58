import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueStats } from './dlq.js';
import type { IrisEventBus } from './index.js';

const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const;
// One database round-trip per scrape serves every queue gauge.
const SNAPSHOT_TTL_MS = 1000;

/**
 * Event bus metrics on the caller's registry: queue depth by status, lag and DLQ size per
 * subscriber (read from the table at scrape time, so they cover every process), attempts and
 * handler time (this process), breaker state (this process), live workers.
 */
export function registerEventMetrics(registry: Registry, bus: IrisEventBus): void {
  let snapshot: { at: number; stats: Promise<QueueStats[]> } | undefined;
  const stats = () => {
    if (!snapshot || Date.now() - snapshot.at > SNAPSHOT_TTL_MS) {
      snapshot = { at: Date.now(), stats: bus.queueStats().catch(() => []) };
    }
    return snapshot.stats;
  };

  new Gauge({
    name: 'iris_events_queue_depth',
    help: 'Deliveries not yet done, per subscriber and status (pending, leased, retry_wait)',
    labelNames: ['subscriber', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await stats()) {
        this.set({ subscriber: s.subscriber, status: 'pending' }, s.pending);
        this.set({ subscriber: s.subscriber, status: 'leased' }, s.leased);
        this.set({ subscriber: s.subscriber, status: 'retry_wait' }, s.retryWait);
      }
    },
  });
  new Gauge({
    name: 'iris_events_lag_seconds',
    help: 'Age of the oldest delivery not yet done, per subscriber',
    labelNames: ['subscriber'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await stats()) this.set({ subscriber: s.subscriber }, s.lagSeconds);
    },
  });
  new Gauge({
    name: 'iris_events_dlq_size',
    help: 'Dead-lettered deliveries, per subscriber',
    labelNames: ['subscriber'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await stats()) this.set({ subscriber: s.subscriber }, s.dead);
    },
  });
  new Gauge({
    name: 'iris_events_breaker_state',
    help: 'Circuit breaker per subscriber in this process: 0 closed, 1 half-open, 2 open',
    labelNames: ['subscriber'] as const,
    registers: [registry],
    collect() {
      for (const s of bus.subscribers()) this.set({ subscriber: s.name }, BREAKER_VALUE[s.breaker]);
    },
  });
  new Gauge({
    name: 'iris_events_workers_alive',
    help: 'Event workers with a fresh heartbeat, across all processes',
    registers: [registry],
    async collect() {
      this.set(await bus.liveWorkers().catch(() => 0));
    },
  });
  const attempts = new Counter({
    name: 'iris_events_delivery_attempts_total',
    help: 'Delivery attempts in this process, per subscriber and outcome (success, retry, dead)',
    labelNames: ['subscriber', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'iris_events_handler_duration_seconds',
    help: 'Handler run time per subscriber, in this process',
    labelNames: ['subscriber'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  bus.onOutcome((subscriber, outcome, seconds) => {
    attempts.inc({ subscriber, outcome });
    duration.observe({ subscriber }, seconds);
  });
}
