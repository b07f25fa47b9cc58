import type { AppContext } from '../../platform/context.js';
import type { IrisModule } from '../../platform/module.js';
import { fhirStore } from '../fhir/index.js';
import { DEFAULT_DISPATCH, RegistryDispatcher, type DispatchOptions } from './dispatcher.js';
import { EndpointRepository } from './endpoints.js';
import { registerRegistryMetrics } from './metrics.js';
import { DEFAULT_RECONCILE_JOB, reconcileJob, type ReconcileJobOptions } from './reconcile-job.js';
import { registerRegistryRoutes, type Guard } from './routes.js';
import { registryMigrations } from './schema.js';
import { RegistryService } from './service.js';
import { syncSubscriber } from './sync.js';
import { tallyFoldJob } from './tallies.js';
import { TransportRegistry } from './transport/index.js';

export { registryMigrations } from './schema.js';
export { REGISTRY_PERMISSIONS } from './routes.js';
export { REGISTRY_STATUS_EXTENSION } from './provenance.js';
export type { RegistryService } from './service.js';

export interface RegistryModuleOptions {
  dispatch?: Partial<DispatchOptions>;
  reconcile?: Partial<ReconcileJobOptions>;
  guard?: Guard;
}

interface RegistryParts {
  service: RegistryService;
  dispatcher: RegistryDispatcher;
  transports: TransportRegistry;
  endpoints: EndpointRepository;
}

/**
 * Immunization registry (IIS) integration: endpoints, durable submissions of every dose change,
 * HL7 v2 over CDC SOAP or FHIR, per-registry resilience, queries and reconciliation.
 */
export function createRegistryModule(options: RegistryModuleOptions = {}): IrisModule {
  const parts = new WeakMap<AppContext, RegistryParts>();
  const partsOf = (ctx: AppContext): RegistryParts => {
    let p = parts.get(ctx);
    if (!p) {
      const store = fhirStore(ctx);
      const settings = ctx.config.registry;
      const endpoints = new EndpointRepository(ctx.db, ctx.keyring, {
        consecutiveFailures: settings.breakerFailures,
        halfOpenAfterMs: settings.breakerHalfOpenMs,
      });
      const transports = new TransportRegistry();
      const dispatcher = new RegistryDispatcher(ctx, store, endpoints, transports, {
        ...DEFAULT_DISPATCH,
        backoffBaseMs: settings.retryBaseMs,
        backoffMaxMs: settings.retryMaxMs,
        pollMs: settings.pollMs,
        ...options.dispatch,
      });
      const service = new RegistryService(ctx, store, endpoints, transports, dispatcher);
      p = { service, dispatcher, transports, endpoints };
      parts.set(ctx, p);
    }
    return p;
  };
  return {
    name: 'registry',
    migrations: registryMigrations,
    routes(app, ctx) {
      registerRegistryRoutes(
        app,
        partsOf(ctx).service,
        options.guard ?? ((...p) => ctx.access.require(...p)),
      );
    },
    subscribers(ctx) {
      const { endpoints, dispatcher } = partsOf(ctx);
      return [syncSubscriber(ctx, endpoints, (ids) => ids.forEach((id) => dispatcher.wake(id)))];
    },
    jobs(ctx) {
      const { endpoints, transports } = partsOf(ctx);
      return [
        reconcileJob(ctx, fhirStore(ctx), endpoints, transports, {
          ...DEFAULT_RECONCILE_JOB,
          ...options.reconcile,
        }),
        tallyFoldJob(ctx.db),
      ];
    },
    services(ctx) {
      const { dispatcher, transports } = partsOf(ctx);
      // Services stop in reverse order: the dispatcher drains before the transports close.
      return [
        { name: 'registry-transports', start: () => undefined, stop: async () => transports.close() },
        dispatcher,
      ];
    },
    metrics(registry, ctx) {
      registerRegistryMetrics(registry, ctx.db, partsOf(ctx).transports);
    },
  };
}

export const registryModule: IrisModule = createRegistryModule();
