import type { FastifyInstance } from 'fastify';
import { modules } from './modules/index.js';
import { createHttpApp } from './platform/http/app.js';
import { registerSystemRoutes } from './platform/http/system-routes.js';
import { registerEventMetrics } from './platform/events/metrics.js';
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
  registerEventMetrics(metrics.registry, ctx.events);
  registerSystemRoutes(app, () => runtime.healthChecks(), metrics);
  for (const module of modules) {
    if (module.routes) await app.register(async (scope) => module.routes?.(scope, ctx));
  }
  return app;
}
