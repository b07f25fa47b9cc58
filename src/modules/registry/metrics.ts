import { Gauge, type Registry } from 'prom-client';
import type { Queryable } from '../../platform/db/types.js';
import { openWorkCount } from './submissions.js';
import { submissionTallies } from './tallies.js';
import type { TransportRegistry } from './transport/index.js';

const BREAKER_VALUE: Record<string, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };
const SNAPSHOT_TTL_MS = 1000;
const ENDPOINT_NAMES = 'SELECT id, name FROM registry_endpoints';

/**
 * Registry metrics: breaker state per registry (this process) and, from the database at scrape
 * time (so every process is covered), submissions per registry and status (the tallies, not a
 * count of the history) and open work items.
 */
export function registerRegistryMetrics(
  registry: Registry,
  db: Queryable,
  transports: TransportRegistry,
): void {
  let snapshot: { at: number; rows: Promise<Array<{ name: string; status: string; n: number }>> } | undefined;
  const counts = () => {
    if (!snapshot || Date.now() - snapshot.at > SNAPSHOT_TTL_MS) {
      snapshot = {
        at: Date.now(),
        rows: Promise.all([submissionTallies(db), db.query<{ id: string; name: string }>(ENDPOINT_NAMES)])
          .then(([tallies, endpoints]) => {
            const names = new Map(endpoints.rows.map((e) => [e.id, e.name]));
            return tallies.map((t) => ({
              name: names.get(t.endpointId) ?? t.endpointId,
              status: t.status,
              n: t.count,
            }));
          })
          .catch(() => []),
      };
    }
    return snapshot.rows;
  };
  new Gauge({
    name: 'iris_registry_breaker_state',
    help: 'Circuit breaker per registry in this process: 0 closed, 1 half-open, 2 open, 3 isolated',
    labelNames: ['registry'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const b of transports.breakerStates()) this.set({ registry: b.name }, BREAKER_VALUE[b.state] ?? 0);
    },
  });
  new Gauge({
    name: 'iris_registry_submissions',
    help: 'Registry submissions per registry and status',
    labelNames: ['registry', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await counts()) this.set({ registry: row.name, status: row.status }, row.n);
    },
  });
  new Gauge({
    name: 'iris_registry_open_work_items',
    help: 'Rejected or failed submissions waiting for someone',
    registers: [registry],
    async collect() {
      this.set(await openWorkCount(db).catch(() => 0));
    },
  });
}
