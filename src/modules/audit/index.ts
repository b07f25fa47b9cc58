import type { AppContext } from '../../platform/context.js';
import type { IrisModule } from '../../platform/module.js';
import { registerAuditCli } from './cli.js';
import { intakeBacklog, readHead } from './repo.js';
import { registerAuditRoutes, type Guard } from './routes.js';
import { auditMigrations } from './schema.js';
import { auditServiceOf, type AuditService } from './service.js';

export {
  attachAuditService,
  auditServiceOf,
  createAuditTrail,
  type AuditOptions,
  type AuditService,
} from './service.js';
export { auditMigrations } from './schema.js';
export { subscribeAuditEvents, eventToRecord, AUDITED_EVENTS } from './events.js';
export { AUDIT_PERMISSIONS, type Guard } from './routes.js';
export type { UserDirectory, DirectoryUser } from './reports.js';
export type { AlertNotifier, AlertRules, Alert } from './alerts.js';
export type { CheckpointSink } from './checkpoints.js';
export { DirectoryCheckpointSink, StorageCheckpointSink, WebhookCheckpointSink } from './checkpoints.js';
export type { VerifyReport, Damage, DamageKind } from './verify.js';

export interface AuditModuleOptions {
  /** Authorization preHandler factory; default: the context's access guards. */
  guard?: Guard;
  /** The process's audit service; default: the one attached to the context with attachAuditService. */
  service?(ctx: AppContext): AuditService;
}

/** Backlog above which readiness reports the sequencer as falling behind. */
const MAX_BACKLOG = 200_000;

/** The audit module: migrations, HTTP routes, `iris audit` commands and a readiness check. */
export function createAuditModule(options: AuditModuleOptions = {}): IrisModule {
  const service = options.service ?? auditServiceOf;
  return {
    name: 'audit',
    migrations: auditMigrations,
    routes(app, ctx) {
      registerAuditRoutes(
        app,
        service(ctx),
        options.guard ?? ((permission) => ctx.access.require(permission)),
      );
    },
    cli(program, load) {
      registerAuditCli(program, load, service);
    },
    healthChecks(ctx) {
      return [
        {
          name: 'audit',
          async run() {
            const [head, backlog] = await Promise.all([readHead(ctx.db), intakeBacklog(ctx.db)]);
            if (backlog > MAX_BACKLOG) throw new Error(`audit sequencer is ${backlog} entries behind`);
            return `seq ${head.seq}, backlog ${backlog}`;
          },
        },
      ];
    },
  };
}
