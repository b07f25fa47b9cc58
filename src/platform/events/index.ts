import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database, Transaction } from '../db/types.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_BREAKER, type BreakerOptions, type BreakerState } from './breaker.js';
import { Dispatcher, type DeliveryOutcome } from './dispatcher.js';
import { DEFAULT_HOUSEKEEPING, housekeepingJob, type HousekeepingOptions } from './housekeeping.js';
import {
  discardDeadLetter,
  getDeadLetter,
  listDeadLetters,
  queueStats,
  retryDeadLetter,
  type DeadLetter,
  type DeadLetterQuery,
  type QueueStats,
} from './dlq.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  deferEvent,
  envelope,
  deferEvents,
  type InsertedDelivery,
  type InsertedEventDelivery,
} from './outbox.js';
import type { BackgroundService, DomainEvent, EventBus, NewEvent, RetryPolicy } from './port.js';
import { replay, type ReplayFilter } from './replay.js';
import { DEFAULT_RETRY } from './retry.js';
import { jobHistory, Scheduler, type JobDefinition, type JobRun } from './scheduler.js';
import { SubscriberRegistry } from './subscribers.js';
import { Sweeper } from './sweeper.js';
import { Worker, type WorkerMode } from './worker.js';

export type { BackgroundService, DomainEvent, EventBus, NewEvent, SubscriberDefinition } from './port.js';
export type { JobDefinition, JobRun } from './scheduler.js';
export type { DeadLetter, DeadLetterQuery, QueueStats } from './dlq.js';
export type { ReplayFilter } from './replay.js';
export { UnknownSubscriberError } from './replay.js';
export { EventValidationError } from './outbox.js';
export { eventMigrations } from './schema.js';

export interface EventBusOptions {
  /** Unique per process; default host:pid:random. */
  workerId?: string;
  /** How long a claimed delivery is ours before anyone may take it again (renewed while running). */
  leaseMs?: number;
  /** Sweeper period: retries, other processes' events, expired leases (default 250 ms). */
  sweepIntervalMs?: number;
  heartbeatMs?: number;
  /** Workers silent for longer are dead (default 5 s); on this host a vanished pid is seen at once. */
  staleAfterMs?: number;
  /** Most deliveries claimed per subscriber per query (default 100). */
  claimBatch?: number;
  /** Most deliveries one subscriber holds leased in this process (default 1000). */
  prefetch?: number;
  schedulerIntervalMs?: number;
  stopTimeoutMs?: number;
  maxPayloadBytes?: number;
  retry?: Partial<RetryPolicy>;
  breaker?: Partial<BreakerOptions>;
  /** Retention of finished deliveries and history (nightly job); false leaves the tables alone. */
  housekeeping?: Partial<HousekeepingOptions> | false;
}

export type OutcomeListener = (subscriber: string, outcome: DeliveryOutcome, seconds: number) => void;

export interface SubscriberStatus {
  name: string;
  events: string[];
  breaker: BreakerState;
  active: number;
  queued: number;
}

export interface WorkerStatus {
  running: boolean;
  id: string;
  lastHeartbeat: Date | null;
  staleAfterMs: number;
}

/** The bus of one process: publishing, subscribers, jobs, the worker loops and the admin operations. */
export interface IrisEventBus extends EventBus {
  readonly workerId: string;
  schedule(job: JobDefinition): void;
  /** Runs a module's background service while the worker runs (started after it, stopped before it). */
  runAlongside(service: BackgroundService): void;
  /** Starts delivering: the worker loops and memory-first delivery. Publishing works without it. */
  start(mode?: WorkerMode): Promise<void>;
  stop(): Promise<void>;
  replay(filter: ReplayFilter): Promise<number>;
  deadLetters: {
    list(query: DeadLetterQuery): Promise<DeadLetter[]>;
    get(id: number): Promise<DeadLetter | null>;
    retry(id: number): Promise<boolean>;
    discard(id: number): Promise<boolean>;
  };
  queueStats(): Promise<QueueStats[]>;
  jobHistory(job: string | undefined, limit: number): Promise<JobRun[]>;
  jobs(): Array<{ name: string; cron: string; timezone: string | null }>;
  subscribers(): SubscriberStatus[];
  worker(): WorkerStatus;
  /** Workers with a fresh heartbeat, in every process. */
  liveWorkers(): Promise<number>;
  onOutcome(listener: OutcomeListener): void;
  /** Runs one sweeper pass now (tests, `iris events` commands). */
  sweep(): Promise<number>;
  /** Runs due jobs now and waits for them (tests). */
  runDueJobs(): Promise<string[]>;
}

export function createEventBus(db: Database, logger: Logger, options: EventBusOptions = {}): IrisEventBus {
  const log = logger.child({ component: 'events' });
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leaseMs = options.leaseMs ?? 30_000;
  const staleAfterMs = options.staleAfterMs ?? 5_000;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const listeners: OutcomeListener[] = [];
  const breakerStates = new Map<string, BreakerState>();
  let started = false;
  const services: BackgroundService[] = [];

  const registry = new SubscriberRegistry({
    retry: { ...DEFAULT_RETRY, ...options.retry },
    breaker: { ...DEFAULT_BREAKER, ...options.breaker },
    onBreakerChange(subscriber, state) {
      breakerStates.set(subscriber, state);
      log.info({ subscriber, state }, 'event subscriber circuit changed');
      if (state === 'half_open') sweeper.wake();
    },
  });

  async function publish<P>(tx: Transaction, event: NewEvent<P>): Promise<DomainEvent<P>> {
    const full = envelope(event, maxPayloadBytes);
    const local = started ? dispatcher.localDeliveries(full.type) : [];
    let rows: InsertedDelivery[] = [];
    deferEvent(tx, full, local, workerId, leaseMs, (inserted) => {
      rows = inserted;
    });
    if (local.length > 0) {
      tx.afterCommit(() => {
        if (rows.length > 0) dispatcher.committed(full as DomainEvent, rows);
      });
    }
    return full;
  }

  async function publishMany(
    tx: Transaction,
    events: ReadonlyArray<NewEvent<unknown>>,
  ): Promise<DomainEvent<unknown>[]> {
    const full = events.map((event) => envelope(event, maxPayloadBytes));
    const byEvent = new Map<string, InsertedEventDelivery[]>();
    deferEvents(
      tx,
      full.map((event) => ({ event, local: started ? dispatcher.localDeliveries(event.type) : [] })),
      workerId,
      leaseMs,
      (rows) => {
        for (const row of rows) byEvent.set(row.event_id, [...(byEvent.get(row.event_id) ?? []), row]);
      },
    );
    tx.afterCommit(() => {
      for (const event of full) {
        const mine = byEvent.get(event.id);
        if (mine) dispatcher.committed(event as DomainEvent, mine);
      }
    });
    return full;
  }

  const dispatcher = new Dispatcher(db, log, registry, {
    owner: workerId,
    prefetch: options.prefetch ?? 1000,
    batchSize: options.claimBatch ?? 100,
    publish,
    onOutcome(subscriber, outcome, seconds) {
      for (const listener of listeners) listener(subscriber, outcome, seconds);
    },
    onCapacity: () => sweeper.wake(),
  });
  const scheduler = new Scheduler(db, log, {
    owner: workerId,
    intervalMs: options.schedulerIntervalMs ?? 1_000,
    leaseMs,
  });
  const sweeper: Sweeper = new Sweeper(db, log, registry, dispatcher, {
    owner: workerId,
    leaseMs,
    intervalMs: options.sweepIntervalMs ?? 250,
    claimBatch: options.claimBatch ?? 100,
    reap: (): Promise<void> => worker.reap(),
  });
  if (options.housekeeping !== false) {
    scheduler.add(housekeepingJob(db, { ...DEFAULT_HOUSEKEEPING, ...options.housekeeping }));
  }
  const worker: Worker = new Worker(db, log, dispatcher, sweeper, scheduler, {
    id: workerId,
    heartbeatMs: options.heartbeatMs ?? 1_000,
    staleAfterMs,
    leaseMs,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
  });

  return {
    workerId,
    publish,
    publishMany,
    subscribe(definition) {
      if (started) throw new Error(`subscribe ${definition.name} before the event bus starts`);
      registry.add(definition);
    },
    schedule(job) {
      if (started) throw new Error(`schedule ${job.name} before the event bus starts`);
      scheduler.add(job);
    },
    runAlongside(service) {
      if (started) throw new Error(`add ${service.name} before the event bus starts`);
      services.push(service);
    },
    async start(mode = 'embedded') {
      if (started) return;
      await registry.persist(db);
      await scheduler.persist();
      started = true;
      try {
        await worker.start(mode);
        for (const service of services) await service.start();
      } catch (error) {
        started = false;
        throw error;
      }
      log.info(
        { workerId, mode, subscribers: registry.list().map((s) => s.name), jobs: scheduler.list().length },
        'event worker started',
      );
    },
    async stop() {
      if (!started) return;
      started = false;
      for (const service of [...services].reverse()) await service.stop();
      await worker.stop();
      log.info({ workerId }, 'event worker stopped');
    },
    replay: (filter) => replay(db, filter),
    deadLetters: {
      list: (query) => listDeadLetters(db, query),
      get: (id) => getDeadLetter(db, id),
      retry: (id) => retryDeadLetter(db, id),
      discard: (id) => discardDeadLetter(db, id),
    },
    queueStats: () => queueStats(db),
    jobHistory: (job, limit) => jobHistory(db, job, limit),
    jobs: () => scheduler.list().map((j) => ({ name: j.name, cron: j.cron, timezone: j.timezone ?? null })),
    subscribers: () =>
      registry.list().map((s) => ({
        name: s.name,
        events: s.definition.events,
        breaker: s.breaker.state,
        active: s.active,
        queued: s.queue.length,
      })),
    worker: () => ({
      running: worker.running,
      id: workerId,
      lastHeartbeat: worker.lastHeartbeat,
      staleAfterMs,
    }),
    async liveWorkers() {
      const result = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM iris_event_workers
         WHERE stopped_at IS NULL AND heartbeat_at >= now() - $1 * interval '1 millisecond'`,
        [staleAfterMs],
      );
      return result.rows[0]?.n ?? 0;
    },
    onOutcome(listener) {
      listeners.push(listener);
    },
    sweep: () => sweeper.sweep(),
    async runDueJobs() {
      const names = await scheduler.tick();
      await scheduler.settled();
      return names;
    },
  };
}
