// Event bus benchmark: publish+deliver throughput, commit → handler latency, sweeper paths.
// Uses DATABASE_URL (a fresh schema, dropped afterwards) when set, else in-memory PGlite.
// Standalone: node --import tsx bench/events.bench.ts
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { migrate } from '../src/platform/db/migrations.js';
import { PgliteDatabase } from '../src/platform/db/pglite.js';
import { PostgresDatabase } from '../src/platform/db/postgres.js';
import type { Database } from '../src/platform/db/types.js';
import { createEventBus, type IrisEventBus } from '../src/platform/events/index.js';
import { eventMigrations } from '../src/platform/events/schema.js';
import { createLogger } from '../src/platform/observability/logger.js';
import type { Row } from './lib/suite.js';
import { formatTable } from './lib/table.js';
import { percentile, processRssMb } from './lib/stats.js';

const logger = createLogger('silent');

interface Backend {
  db: Database;
  label: string;
  publishers: number;
  close(): Promise<void>;
}

async function openBackend(): Promise<Backend> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await PgliteDatabase.open();
    await migrate(db, eventMigrations);
    return { db, label: 'PGlite', publishers: 1, close: () => db.close() };
  }
  const schema = `bench_events_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PostgresDatabase({ connectionString: url, schema, max: 24, applicationName: 'iris-bench' });
  await migrate(db, eventMigrations);
  return {
    db,
    label: 'PostgreSQL',
    publishers: 16,
    async close() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: url });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
      await cleanup.end();
    },
  };
}

/** Waits until every handler ran (counted in memory, no polling load), then until all are recorded done. */
async function waitDone(
  db: Database,
  subscriber: string,
  count: number,
  handled: () => number,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (handled() < count) {
    if (Date.now() > deadline) throw new Error(`${subscriber}: ${handled()} of ${count} handled`);
    await new Promise((r) => setTimeout(r, 5));
  }
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM iris_event_deliveries WHERE subscriber = $1 AND status = 'done'`,
      [subscriber],
    );
    if (rows[0]!.n >= count) return;
    if (Date.now() > deadline) throw new Error(`${subscriber}: ${rows[0]!.n} of ${count} done`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Publishes `total` events from `publishers` concurrent callers, `perTransaction` events per
 * transaction (one: `publish`, the usual request; more: `publishMany`, bulk work).
 */
async function publishAll(
  db: Database,
  bus: IrisEventBus,
  type: string,
  total: number,
  publishers: number,
  committedAt: Map<string, number>,
  perTransaction = 1,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (next < total) {
        const first = next;
        next = Math.min(total, next + perTransaction);
        const events = Array.from({ length: next - first }, (_, k) => ({
          type,
          aggregate: { type: 'Bench', id: String(first + k) },
          payload: { n: first + k },
        }));
        await db.transaction(async (tx) => {
          let ids: string[] = [];
          // Registered before publishing: runs first after COMMIT, so it stamps the commit moment.
          tx.afterCommit(() => {
            const at = performance.now();
            for (const id of ids) committedAt.set(id, at);
          });
          ids =
            events.length === 1
              ? [(await bus.publish(tx, events[0]!)).id]
              : (await bus.publishMany(tx, events)).map((e) => e.id);
        });
      }
    }),
  );
}

async function memoryFirst(backend: Backend, total: number, perTransaction = 1): Promise<Row> {
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  let handled = 0;
  const bus = createEventBus(backend.db, logger, { workerId: 'bench-memory' });
  bus.subscribe({
    name: 'bench.memory',
    events: ['bench.memory'],
    concurrency: 32,
    handle: async (event) => {
      handled += 1;
      const at = committedAt.get(event.id);
      if (at !== undefined) latencies.push(performance.now() - at);
    },
  });
  await bus.start();
  try {
    const started = performance.now();
    await publishAll(backend.db, bus, 'bench.memory', total, backend.publishers, committedAt, perTransaction);
    await waitDone(backend.db, 'bench.memory', total, () => handled);
    const seconds = (performance.now() - started) / 1000;
    return {
      operation: `events publish+deliver, memory-first (${backend.label}, ${backend.publishers} publishers${perTransaction > 1 ? `, ${perTransaction} per transaction` : ''})`,
      opsPerSec: total / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: processRssMb(),
    };
  } finally {
    await bus.stop();
  }
}

async function sweeperPath(backend: Backend, total: number): Promise<Row> {
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  let handled = 0;
  const worker = createEventBus(backend.db, logger, { workerId: 'bench-worker' });
  worker.subscribe({
    name: 'bench.sweep',
    events: ['bench.sweep'],
    concurrency: 32,
    handle: async (event) => {
      handled += 1;
      const at = committedAt.get(event.id);
      if (at !== undefined) latencies.push(performance.now() - at);
    },
  });
  await worker.start('worker');
  // A publisher that runs no subscriber (another API process, a CLI command).
  const publisher = createEventBus(backend.db, logger);
  try {
    const started = performance.now();
    await publishAll(backend.db, publisher, 'bench.sweep', total, backend.publishers, committedAt);
    await waitDone(backend.db, 'bench.sweep', total, () => handled);
    const seconds = (performance.now() - started) / 1000;
    return {
      operation: `events publish+deliver, sweeper path (${backend.label})`,
      opsPerSec: total / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: processRssMb(),
    };
  } finally {
    await worker.stop();
  }
}

/** A worker on this host died holding `total` leased deliveries; a new one starts: time to deliver them. */
async function crashRecovery(backend: Backend, total: number): Promise<Row> {
  const { db } = backend;
  const publisher = createEventBus(db, logger);
  const regex = '^(?:bench\\.crash)$';
  await db.query(
    `INSERT INTO iris_event_subscribers (name, patterns, type_regex, backfill_from)
     VALUES ('bench.crash', '{bench.crash}', $1, pg_snapshot_xmin(pg_current_snapshot()))`,
    [regex],
  );
  for (let i = 0; i < total; i += 100) {
    await db.transaction(async (tx) => {
      for (let j = i; j < Math.min(total, i + 100); j++) {
        await publisher.publish(tx, {
          type: 'bench.crash',
          aggregate: { type: 'Bench', id: String(j) },
          payload: {},
        });
      }
    });
  }
  // The dead worker: a pid that does not exist on this host, a fresh heartbeat, long leases.
  await db.query(
    `INSERT INTO iris_event_workers (id, host, pid, mode) VALUES ('bench-dead', $1, 2147483000, 'worker')`,
    [hostname()],
  );
  await db.query(
    `INSERT INTO iris_event_deliveries (subscriber, event_id, event_seq, aggregate_key, status, attempts, owner, lease_until)
     SELECT 'bench.crash', id, seq, 'Bench/' || aggregate_id, 'leased', 1, 'bench-dead', now() + interval '1 hour'
     FROM iris_events WHERE type = 'bench.crash'`,
  );
  const latencies: number[] = [];
  const bus = createEventBus(db, logger, { workerId: 'bench-recovery' });
  let started = 0;
  bus.subscribe({
    name: 'bench.crash',
    events: ['bench.crash'],
    concurrency: 32,
    handle: async () => void latencies.push(performance.now() - started),
  });
  started = performance.now();
  await bus.start('worker');
  try {
    await waitDone(db, 'bench.crash', total, () => latencies.length);
    const seconds = (performance.now() - started) / 1000;
    return {
      operation: `events sweeper recovery after a crash (${backend.label}, ${total} leased)`,
      opsPerSec: total / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: processRssMb(),
    };
  } finally {
    await bus.stop();
  }
}

/**
 * Rows: memory-first publish+deliver (events/s, commit → handler p50/p99), one event per
 * transaction and ten (bulk publishers such as imports and the registry), the sweeper path
 * (events published by a process without subscribers), and recovery of a crashed worker's
 * leases (p50/p99: time from the new worker's start to each delivery).
 */
export async function runEventsBench(): Promise<Row[]> {
  const backend = await openBackend();
  const server = backend.label === 'PostgreSQL';
  try {
    await memoryFirst(backend, 1000);
    return [
      await memoryFirst(backend, server ? 30_000 : 5_000),
      await memoryFirst(backend, server ? 60_000 : 10_000, 10),
      await sweeperPath(backend, server ? 20_000 : 3_000),
      await crashRecovery(backend, 1_000),
    ];
  } finally {
    await backend.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runEventsBench();
  process.stdout.write(`${formatTable(rows)}\n`);
}
