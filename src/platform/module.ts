import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { AppContext } from './context.js';
import type { Migration } from './db/migrations.js';
import type { BackgroundService, SubscriberDefinition } from './events/port.js';
import type { JobDefinition } from './events/scheduler.js';
import type { HealthCheck } from './observability/health.js';

/**
 * What a domain module contributes to the platform. The composition root (src/modules/index.ts)
 * lists the modules; platform code only sees this interface, never a module itself.
 */
export interface IrisModule {
  /** Short, unique, lower-case name; also the namespace of its migrations. */
  name: string;
  /** Forward-only migrations, applied in array order after the platform's own. */
  migrations?: Migration[];
  /** HTTP routes; called once per app instance with a ready context. */
  routes?(app: FastifyInstance, ctx: AppContext): Promise<void> | void;
  /** Extra `iris` sub-commands. `load` opens the context lazily, only when a command needs it. */
  cli?(program: Command, load: () => Promise<AppContext>): void;
  /** Event subscribers, registered before the workers start. */
  subscribers?(ctx: AppContext): SubscriberDefinition[];
  /** Scheduled jobs (cron), run by exactly one process at a time. */
  jobs?(ctx: AppContext): JobDefinition[];
  /** Long-running loops that run wherever the event worker runs. */
  services?(ctx: AppContext): BackgroundService[];
  /** Metrics of the module, registered on each app's `/metrics` registry. */
  metrics?(registry: Registry, ctx: AppContext): void;
  /** Readiness checks reported by /health/ready. */
  healthChecks?(ctx: AppContext): HealthCheck[];
}
