import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import type { IrisModule } from '../../platform/module.js';
import { registerImportCommand, registerReindexCommand, registerRewrapCommand } from './cli.js';
import type { FhirAccess } from './http/request.js';
import { loadStructureDefinitions } from './definitions/structure.js';
import { searchParameters } from './definitions/search-parameters.js';
import { exportCleanupJob, exportSubscriber } from './export/worker.js';
import { registerFhirRoutes } from './routes/index.js';
import { fhirMigrations } from './schema.js';
import { fhirStore } from './service.js';
import { fhirRuntime, type FhirDeps } from './store/context.js';

export { fhirMigrations } from './schema.js';
export { fhirRuntime, SYSTEM_CONTEXT } from './store/context.js';
export type { CallContext, FhirDeps, FhirRuntime } from './store/context.js';
export type { FhirAccess } from './http/request.js';
export { requestCallContext } from './http/principal-context.js';
export { registerFhirRoutes } from './routes/index.js';
export { createFhirStore, fhirStore, type CreateOptions, type FhirStore } from './service.js';
export type { ReadOptions, ReadResult } from './store/read.js';
export type { PatientRecords } from './store/patient-records.js';
export type { WriteResult } from './store/write.js';

/** Overrides of what the module takes from the context (tests); by default the context's guards and ports. */
export interface FhirModuleOptions {
  access?: FhirAccess;
  events?: FhirDeps['events'];
  audit?: FhirDeps['audit'];
  validation?: FhirDeps['validation'];
}

/**
 * The FHIR R4 store: encrypted resources, search, bundles, validation, CapabilityStatement, and
 * bulk $export (run by the event worker, swept hourly).
 */
export function createFhirModule(options: FhirModuleOptions = {}): IrisModule {
  return {
    name: 'fhir',
    migrations: fhirMigrations,
    routes(app: FastifyInstance, ctx: AppContext) {
      // Load the definitions at start-up, not inside the first request.
      loadStructureDefinitions();
      searchParameters();
      const overridden = options.events || options.audit || options.validation;
      const rt = overridden
        ? fhirRuntime({
            db: ctx.db,
            keyring: ctx.keyring,
            baseUrl: `${ctx.config.http.publicUrl.replace(/\/+$/, '')}/fhir`,
            logger: ctx.logger,
            events: options.events ?? ctx.events,
            audit: options.audit ?? ctx.audit,
            ...(options.validation ? { validation: options.validation } : {}),
          })
        : fhirStore(ctx).runtime;
      registerFhirRoutes(app, rt, options.access ?? { guards: ctx.access }, ctx.storage);
    },
    subscribers(ctx: AppContext) {
      return [exportSubscriber(fhirStore(ctx).runtime, ctx.storage, ctx.logger)];
    },
    jobs(ctx: AppContext) {
      return [exportCleanupJob(fhirStore(ctx).runtime, ctx.storage)];
    },
    cli(program, load) {
      registerImportCommand(program, load);
      registerRewrapCommand(program, load);
      registerReindexCommand(program, load);
    },
  };
}

/** The module as the product composes it: guards, events and audit from the context. */
export const fhirModule: IrisModule = createFhirModule();
