import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config.js';
import { attachAuditService, createAuditModule } from '../../../src/modules/audit/index.js';
import type { AppContext } from '../../../src/platform/context.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

describe('the audit IrisModule', () => {
  let fx: AuditFixture;
  let ctx: AppContext;
  before(async () => {
    fx = await auditFixture();
    ctx = { db: fx.handle.db } as AppContext;
    attachAuditService(ctx, fx.audit);
    await fx.audit.record(sampleRecord(1));
    await fx.audit.flush();
  });
  after(() => fx.close());

  test('contributes its migrations, a readiness check and documented routes', async () => {
    const guards: string[] = [];
    const module = createAuditModule({
      guard: (permission) => {
        guards.push(permission);
        return async () => undefined;
      },
    });
    assert.equal(module.name, 'audit');
    assert.deepEqual(
      module.migrations?.map((m) => m.id),
      [
        'audit/0001_tables',
        'audit/0002_partition_functions',
        'audit/0003_privileges',
        'audit/0004_phi_access_window',
      ],
    );
    const [check] = module.healthChecks?.(ctx) ?? [];
    assert.equal(await check?.run(), 'seq 1, backlog 0');

    const app = await createHttpApp({
      config: loadConfig({ NODE_ENV: 'test', IRIS_DATA_DIR: fx.dir, LOG_LEVEL: 'silent' }),
      logger: createLogger('silent'),
      metrics: createMetrics(() => fx.handle.db.stats()),
      version: 'test',
    });
    await app.register(async (scope) => module.routes?.(scope, ctx));
    await app.ready();
    const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    for (const path of [
      '/api/v1/audit/verify',
      '/api/v1/audit/entries',
      '/api/v1/audit/entries/{seq}/proof',
      '/api/v1/audit/reports/disclosures',
      '/api/v1/audit/export',
      '/api/v1/audit/alerts',
      '/fhir/AuditEvent',
    ]) {
      assert.ok(spec.paths[path], `${path} is in the OpenAPI document`);
    }
    assert.deepEqual([...new Set(guards)].sort(), [
      'audit:alerts',
      'audit:export',
      'audit:read',
      'audit:report',
      'audit:verify',
    ]);
    await app.close();
  });
});
