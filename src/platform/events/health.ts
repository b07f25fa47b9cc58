import type { HealthCheck } from '../observability/health.js';
import type { IrisEventBus } from './index.js';

/**
 * Readiness of background work: this process's worker loop is alive (its heartbeat is fresh)
 * and some worker runs somewhere. Queue depth and dead letters are reported, never fatal: a
 * full DLQ needs an operator, not a restart.
 */
export function eventHealthChecks(bus: IrisEventBus, statsMaxAgeMs = 5000): HealthCheck[] {
  // Probes may come several times a second; queue statistics scan the delivery table, so they
  // are refreshed at most every few seconds (the worker liveness query is cheap and always run).
  let cached: { at: number; stats: Promise<Awaited<ReturnType<IrisEventBus['queueStats']>>> } | null = null;
  const queueStats = () => {
    if (!cached || Date.now() - cached.at > statsMaxAgeMs) {
      const stats = bus.queueStats();
      cached = { at: Date.now(), stats };
      stats.catch(() => {
        cached = null;
      });
    }
    return cached.stats;
  };
  return [
    {
      name: 'events',
      async run() {
        const self = bus.worker();
        if (self.running) {
          const age = self.lastHeartbeat ? Date.now() - self.lastHeartbeat.getTime() : Infinity;
          if (age > self.staleAfterMs) throw new Error(`event worker heartbeat is ${Math.round(age)} ms old`);
        }
        const [workers, stats] = await Promise.all([bus.liveWorkers(), queueStats()]);
        if (workers === 0) throw new Error('no event worker is running: events are not being delivered');
        const open = stats.reduce((n, s) => n + s.pending + s.leased + s.retryWait, 0);
        const dead = stats.reduce((n, s) => n + s.dead, 0);
        const breakers = bus.subscribers().filter((s) => s.breaker !== 'closed');
        const lag = Math.max(0, ...stats.map((s) => s.lagSeconds));
        const parts = [`${workers} worker(s)`, `${open} open`, `lag ${lag.toFixed(1)} s`, `dlq ${dead}`];
        if (breakers.length > 0)
          parts.push(`breaker ${breakers.map((b) => `${b.name}=${b.breaker}`).join(',')}`);
        return parts.join('; ');
      },
    },
  ];
}
