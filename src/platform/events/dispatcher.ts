import type { Database, Transaction } from '../db/types.js';
import type { Logger } from '../observability/logger.js';
import { markDone, markFailed, release, type Delivery } from './deliveries.js';
import type { InsertedDelivery, LocalDelivery } from './outbox.js';
import type { DeliveryContext, DomainEvent, NewEvent } from './port.js';
import { nextRetry } from './retry.js';
import type { Subscriber, SubscriberRegistry } from './subscribers.js';

export type DeliveryOutcome = 'success' | 'retry' | 'dead';

/** Writing completions again after a failure (database briefly away): 0.2, 0.4, 0.8, 1.6 s. */
const DONE_RETRY_MS = 200;
const DONE_RETRIES = 4;
/** How long completions of unordered subscribers gather before one write records them. */
const DONE_GATHER_MS = 10;

export interface DispatcherOptions {
  owner: string;
  /** Deliveries a subscriber may hold leased in this process (queued + running). */
  prefetch: number;
  /** Most completions written in one statement. */
  batchSize: number;
  publish<P>(tx: Transaction, event: NewEvent<P>): Promise<DomainEvent<P>>;
  onOutcome(subscriber: string, outcome: DeliveryOutcome, seconds: number): void;
  /** Something may now be claimable in the table (an ordered delivery finished, a queue drained). */
  onCapacity(): void;
}

/**
 * Runs handlers in this process. Deliveries arrive either straight after the publishing
 * transaction commits (memory-first: the rows were leased to this process in that transaction)
 * or from the sweeper's claims. Completions are written in batches off the handler's path;
 * failures are written at once (retry time or dead letter).
 */
export class Dispatcher {
  private done: number[] = [];
  private doneScheduled = false;
  private orderedDone = false;
  private writes: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly registry: SubscriberRegistry,
    private readonly options: DispatcherOptions,
  ) {}

  /**
   * Which of this process's subscribers get a delivery row in the publishing transaction:
   * leased to us for immediate delivery, or pending when the subscriber cannot take it now
   * (ordered, breaker not closed, queue full) so that the sweeper hands it over later.
   */
  localDeliveries(type: string): LocalDelivery[] {
    if (this.stopping) return [];
    const out: LocalDelivery[] = [];
    for (const s of this.registry.list()) {
      if (!s.matches(type)) continue;
      const immediate = !s.ordered && s.breaker.state === 'closed' && s.leased.size < this.options.prefetch;
      out.push({ subscriber: s.name, status: immediate ? 'leased' : 'pending' });
    }
    return out;
  }

  /** Called once the publishing transaction committed. */
  committed(event: DomainEvent, rows: readonly InsertedDelivery[]): void {
    let pending = false;
    const deliveries: Delivery[] = [];
    for (const row of rows) {
      if (row.status === 'leased')
        deliveries.push({ id: row.id, subscriber: row.subscriber, attempt: 1, event });
      else pending = true;
    }
    this.enqueue(deliveries);
    if (pending) this.options.onCapacity();
  }

  /** How many deliveries each subscriber could take now (for the sweeper's claim). */
  capacity(subscriber: Subscriber): number {
    if (this.stopping) return 0;
    const room = this.options.prefetch - subscriber.leased.size;
    return Math.max(0, Math.min(room, subscriber.breaker.allowance() - subscriber.active));
  }

  enqueue(deliveries: readonly Delivery[]): void {
    if (this.stopping) {
      // Committed while we stop: hand the leases back now rather than at lease expiry.
      const ids = deliveries.map((d) => d.id);
      if (ids.length > 0)
        this.write(() => release(this.db, ids, this.options.owner), 'could not release deliveries');
      return;
    }
    const touched = new Set<Subscriber>();
    for (const delivery of deliveries) {
      const subscriber = this.registry.get(delivery.subscriber);
      if (!subscriber) continue;
      subscriber.leased.add(delivery.id);
      if (delivery.attempt > subscriber.policy.maxAttempts) {
        // Its earlier attempts died with their worker: a delivery that kills workers must not loop.
        this.fail(
          subscriber,
          delivery,
          new Error('attempts exhausted: the worker was lost during delivery'),
          true,
        );
        continue;
      }
      subscriber.queue.push(delivery);
      touched.add(subscriber);
    }
    for (const subscriber of touched) this.pump(subscriber);
  }

  /** Ids of every delivery leased to this process (lease renewal). */
  leasedIds(): number[] {
    return this.registry.list().flatMap((s) => [...s.leased]);
  }

  activeCount(): number {
    return this.registry.list().reduce((n, s) => n + s.active, 0);
  }

  /** Stops taking work, hands back what has not started, waits for running handlers (bounded). */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const s of this.registry.list()) this.giveBack(s);
    if (this.activeCount() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.idle.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.flushDone();
    await this.writes;
  }

  private pump(subscriber: Subscriber): void {
    while (!this.stopping && subscriber.queue.length > 0 && subscriber.active < subscriber.concurrency) {
      if (subscriber.breaker.allowance() <= 0) return;
      const delivery = subscriber.queue.shift() as Delivery;
      void this.run(subscriber, delivery);
    }
  }

  private context(delivery: Delivery): DeliveryContext {
    const cause = delivery.event;
    return {
      attempt: delivery.attempt,
      publish: (tx, event) =>
        this.options.publish(tx, {
          ...event,
          causationId: event.causationId ?? cause.id,
          correlationId: event.correlationId ?? cause.correlationId ?? cause.id,
        }),
    };
  }

  private async run(subscriber: Subscriber, delivery: Delivery): Promise<void> {
    subscriber.active += 1;
    subscriber.breaker.started();
    const started = performance.now();
    try {
      await subscriber.definition.handle(delivery.event, this.context(delivery));
      subscriber.breaker.success();
      this.options.onOutcome(subscriber.name, 'success', (performance.now() - started) / 1000);
      this.complete(subscriber, delivery);
    } catch (error) {
      subscriber.breaker.failure();
      const outcome = this.fail(subscriber, delivery, error, false);
      this.options.onOutcome(subscriber.name, outcome, (performance.now() - started) / 1000);
      if (subscriber.breaker.state === 'open') {
        this.logger.warn({ subscriber: subscriber.name }, 'event subscriber circuit opened');
        this.giveBack(subscriber);
      }
    } finally {
      subscriber.active -= 1;
      if (subscriber.backlog && subscriber.queue.length === 0 && subscriber.active === 0) {
        subscriber.backlog = false;
        this.options.onCapacity();
      }
      this.pump(subscriber);
      if (this.activeCount() === 0) for (const resolve of this.idle) resolve();
    }
  }

  private complete(subscriber: Subscriber, delivery: Delivery): void {
    this.done.push(delivery.id);
    // The lease is ours until the batch is written; the id leaves the set then.
    if (subscriber.ordered) this.orderedDone = true;
    if (this.done.length >= this.options.batchSize || subscriber.ordered) this.flushDone();
    else if (!this.doneScheduled) {
      // Nothing waits on the write (the handler has run, the lease is ours), so completions
      // gather for a while: updating a delivery row costs several times more alone than in a
      // batch of a few dozen.
      this.doneScheduled = true;
      setTimeout(() => this.flushDone(), DONE_GATHER_MS);
    }
  }

  private flushDone(): void {
    this.doneScheduled = false;
    if (this.done.length === 0) return;
    const ids = this.done;
    const wake = this.orderedDone;
    this.done = [];
    this.orderedDone = false;
    this.writeDone(ids, wake, 0);
  }

  private writeDone(ids: number[], wake: boolean, attempt: number): void {
    this.write(async () => {
      try {
        await markDone(this.db, ids);
      } catch (error) {
        // The handlers succeeded and this process still holds (and renews) the leases: giving up
        // at once would strand the deliveries as leased until the process ends. A few tries, then
        // the leases are let go so that they expire and the deliveries run again elsewhere.
        if (this.stopping || attempt >= DONE_RETRIES) {
          this.forget(ids);
          this.logger.error(
            { err: error },
            'could not record completed deliveries; they will be redelivered',
          );
          return;
        }
        this.logger.warn(
          { err: error, attempt: attempt + 1 },
          'could not record completed deliveries; retrying',
        );
        setTimeout(() => this.writeDone(ids, wake, attempt + 1), DONE_RETRY_MS * 2 ** attempt).unref();
        return;
      }
      this.forget(ids);
      if (wake) this.options.onCapacity();
    }, 'could not record completed deliveries');
  }

  private fail(
    subscriber: Subscriber,
    delivery: Delivery,
    error: unknown,
    exhausted: boolean,
  ): DeliveryOutcome {
    const decision = exhausted ? ({ kind: 'dead' } as const) : nextRetry(subscriber.policy, delivery.attempt);
    const delayMs = decision.kind === 'dead' ? null : decision.delayMs;
    this.logger.warn(
      {
        subscriber: subscriber.name,
        eventId: delivery.event.id,
        eventType: delivery.event.type,
        attempt: delivery.attempt,
        err: error,
        ...(delayMs === null ? { deadLettered: true } : { retryInMs: delayMs }),
      },
      'event delivery failed',
    );
    this.write(async () => {
      await markFailed(this.db, delivery.id, error, delayMs);
      this.forget([delivery.id]);
    }, 'could not record a failed delivery; its lease will expire and it will be retried');
    return decision.kind === 'dead' ? 'dead' : 'retry';
  }

  /** Hands a subscriber's not-yet-started deliveries back to the table for anyone to claim. */
  private giveBack(subscriber: Subscriber): void {
    const ids = subscriber.queue.splice(0).map((d) => d.id);
    if (ids.length === 0) return;
    this.write(async () => {
      await release(this.db, ids, this.options.owner);
      this.forget(ids);
    }, 'could not release deliveries; their leases will expire');
  }

  private forget(ids: readonly number[]): void {
    for (const s of this.registry.list()) for (const id of ids) s.leased.delete(id);
  }

  private write(fn: () => Promise<void>, message: string): void {
    // Writes are independent; each failure is logged and left to lease expiry to repair.
    const op = fn().catch((error: unknown) => this.logger.error({ err: error }, message));
    this.writes = Promise.all([this.writes, op]).then(() => undefined);
  }
}
