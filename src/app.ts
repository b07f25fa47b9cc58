import type { FastifyInstance } from 'fastify';
import { authFor } from './modules/auth/index.js';
import { modules } from './modules/index.js';
import { createHttpApp } from './platform/http/app.js';
import { registerSystemRoutes } from './platform/http/system-routes.js';
import { registerEventMetrics } from './platform/events/metrics.js';
import { registerEventAdminRoutes } from './platform/events/routes.js';
import { createMetrics } from './platform/observability/metrics.js';
import type { Runtime } from './runtime.js';
import { VERSION } from './version.js';

/** The whole HTTP surface: platform routes plus every module's routes. */
export async function buildApp(runtime: Runtime): Promise<FastifyInstance> {
  const { ctx } = runtime;
  const metrics = createMetrics(() => ctx.db.stats());
  const app = await createHttpApp({
    config: ctx.config,
    logger: ctx.logger,
    metrics,
    redis: runtime.redis,
    version: VERSION,
  });
  // Every request: who is calling (a bad token is a 401 here); routes then require permissions.
  app.addHook('onRequest', authFor(ctx).guards.hook);
  registerEventMetrics(metrics.registry, ctx.events);
  registerSystemRoutes(app, () => runtime.healthChecks(), metrics);
  await app.register(async (scope) =>
    registerEventAdminRoutes(scope, ctx.events, ctx.access.require('events:manage'), { audit: ctx.audit }),
  );
  for (const module of modules) {
    module.metrics?.(metrics.registry, ctx);
    if (module.routes) await app.register(async (scope) => module.routes?.(scope, ctx));
  }
  return app;
}
