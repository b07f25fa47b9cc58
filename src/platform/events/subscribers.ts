import type { Queryable } from '../db/types.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import type { Delivery } from './deliveries.js';
import { compilePatterns, patternsRegex } from './patterns.js';
import type { RetryPolicy, SubscriberDefinition } from './port.js';
import { retryPolicy } from './retry.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** A registered subscriber with its in-process delivery state. */
export interface Subscriber {
  definition: SubscriberDefinition;
  name: string;
  matches: (type: string) => boolean;
  typeRegex: string;
  policy: RetryPolicy;
  breaker: CircuitBreaker;
  concurrency: number;
  ordered: boolean;
  /** Leased to this process, not started yet. */
  queue: Delivery[];
  active: number;
  /** Ids of every delivery this process holds a lease on (queued and running). */
  leased: Set<number>;
  /** The last claim came back full: more may be waiting in the table once the queue drains. */
  backlog: boolean;
}

export interface RegistryOptions {
  retry: RetryPolicy;
  breaker: BreakerOptions;
  onBreakerChange(subscriber: string, state: BreakerState): void;
}

/** The subscribers of this process, by name. Names are stable: delivery state is kept per name. */
export class SubscriberRegistry {
  private readonly byName = new Map<string, Subscriber>();

  constructor(private readonly options: RegistryOptions) {}

  add(definition: SubscriberDefinition): Subscriber {
    if (!NAME.test(definition.name)) {
      throw new Error(
        `subscriber name "${definition.name}" must be lower-case letters, digits, . _ - (max 100)`,
      );
    }
    if (this.byName.has(definition.name))
      throw new Error(`subscriber ${definition.name} is registered twice`);
    const concurrency = definition.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`subscriber ${definition.name}: concurrency must be a whole number >= 1`);
    }
    const subscriber: Subscriber = {
      definition,
      name: definition.name,
      matches: compilePatterns(definition.events),
      typeRegex: patternsRegex(definition.events),
      policy: retryPolicy(definition.retry, this.options.retry),
      breaker: new CircuitBreaker(this.options.breaker, Date.now, (state) =>
        this.options.onBreakerChange(definition.name, state),
      ),
      concurrency,
      ordered: definition.orderedByAggregate ?? false,
      queue: [],
      active: 0,
      leased: new Set(),
      backlog: false,
    };
    this.byName.set(definition.name, subscriber);
    return subscriber;
  }

  get(name: string): Subscriber | undefined {
    return this.byName.get(name);
  }

  list(): Subscriber[] {
    return [...this.byName.values()];
  }

  matching(type: string): Subscriber[] {
    return this.list().filter((s) => s.matches(type));
  }

  /**
   * Records the subscribers in the database (admin and replay find them there). A new
   * subscriber starts at the present: the backfill does not hand it the history.
   */
  async persist(db: Queryable): Promise<void> {
    const subs = this.list();
    if (subs.length === 0) return;
    await db.query(
      `INSERT INTO iris_event_subscribers (name, patterns, type_regex, backfill_from)
       SELECT s.name, string_to_array(s.patterns, chr(31)), s.regex, pg_snapshot_xmin(pg_current_snapshot())
       FROM unnest($1::text[], $2::text[], $3::text[]) AS s(name, patterns, regex)
       ON CONFLICT (name) DO UPDATE SET patterns = excluded.patterns, type_regex = excluded.type_regex, updated_at = now()
       WHERE iris_event_subscribers.type_regex <> excluded.type_regex`,
      [
        subs.map((s) => s.name),
        subs.map((s) => s.definition.events.join('\u001f')),
        subs.map((s) => s.typeRegex),
      ],
    );
  }
}

/** The subscribers recorded in the database, whether or not this process runs them. */
export async function knownSubscribers(db: Queryable): Promise<Array<{ name: string; patterns: string[] }>> {
  const result = await db.query<{ name: string; patterns: string[] }>(
    'SELECT name, patterns FROM iris_event_subscribers ORDER BY name',
  );
  return result.rows;
}
