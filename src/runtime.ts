import { Redis } from 'ioredis';
import type { Config } from './config.js';
import { attachAuditService, createAuditTrail, subscribeAuditEvents } from './modules/audit/index.js';
import { accessGuards } from './modules/auth/index.js';
import { modules } from './modules/index.js';
import { createCache } from './platform/cache/index.js';
import type { AuditTrail } from './platform/audit/port.js';
import type { AppContext } from './platform/context.js';
import { Keyring } from './platform/crypto/keyring.js';
import {
  migrate,
  migrationStatus,
  PendingMigrationsError,
  type Migration,
} from './platform/db/migrations.js';
import { openDatabase, type DatabaseHandle } from './platform/db/open.js';
import { rowSecurityExemptRole } from './platform/db/session-settings.js';
import { platformMigrations } from './platform/db/platform-migrations.js';
import { createEventBus } from './platform/events/index.js';
import { eventHealthChecks } from './platform/events/health.js';
import { diskSpaceCheck, type HealthCheck } from './platform/observability/health.js';
import type { Logger } from './platform/observability/logger.js';
import { createObjectStorage } from './platform/storage/index.js';

/** Every migration of the platform and the modules, in the order they apply. */
export function allMigrations(): Migration[] {
  return [...platformMigrations, ...modules.flatMap((m) => m.migrations ?? [])];
}

export interface Runtime {
  ctx: AppContext;
  database: DatabaseHandle;
  /** A dedicated Redis connection for HTTP rate limiting, when Redis is configured. */
  redis?: Redis;
  healthChecks(): HealthCheck[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** True for the long-running server (holds and shares an embedded data dir). */
  server: boolean;
  /** Apply pending migrations (development start, tests); otherwise refuse to run with pending ones. */
  migrate: boolean;
  /** An already open database (tests use an isolated in-memory one); otherwise opened from config. */
  database?: DatabaseHandle;
  /**
   * What the modules record into instead of the audit trail. Not reachable from configuration:
   * only the benchmark that prices auditing (the same server with and without it) passes one.
   */
  recordInto?: AuditTrail;
}

/** The composition root: opens every platform adapter named by the configuration. */
export async function openRuntime(config: Config, logger: Logger, options: RuntimeOptions): Promise<Runtime> {
  const keyring = await Keyring.open(config.keysDir, {
    create: !config.keysConfigured && config.env !== 'production',
    strictPermissions: config.env === 'production',
  });
  const database =
    options.database ??
    (await openDatabase(
      { url: config.database.url, poolMax: config.database.poolMax, dataDir: config.dataDir },
      { share: options.server, applicationName: options.server ? 'iris-server' : 'iris-cli', logger },
    ));
  const closers: Array<() => Promise<unknown>> = [() => database.close()];
  try {
    const migrations = allMigrations();
    if (options.migrate) {
      const applied = await migrate(database.db, migrations);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    } else {
      const pending = (await migrationStatus(database.db, migrations)).filter((m) => m.appliedAt === null);
      if (pending.length > 0) {
        throw new PendingMigrationsError(
          `${pending.length} migration(s) pending (${pending[0]?.id}...); run "iris migrate" first`,
        );
      }
    }
    const exempt = database.mode === 'server' ? await rowSecurityExemptRole(database.db) : null;
    if (exempt) {
      // Row-level security (the FHIR resource tables) never binds such a role: say so at start.
      logger.warn(
        { role: exempt },
        'the database role is a superuser or has BYPASSRLS: row-level security on PHI tables does not apply; run as an ordinary role',
      );
    }
    const cache = createCache({ redisUrl: config.redisUrl, keyPrefix: 'iris:' });
    closers.unshift(() => cache.close());
    const storage = createObjectStorage(config.storage);
    closers.unshift(() => storage.close());
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 })
      : undefined;
    if (redis) {
      redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
      closers.unshift(() => redis.quit());
    }
    const events = createEventBus(database.db, logger);
    const audit = createAuditTrail(database.db, keyring, storage, logger, {
      dataDir: config.dataDir,
      timer: options.server,
      checkpointsToStorage: config.storage.kind === 's3',
    });
    closers.unshift(() => audit.close());
    // Closed first: handlers still running audit what they do, so the trail closes after them.
    closers.unshift(() => events.stop());
    const trail = options.recordInto ?? audit;
    subscribeAuditEvents(events, trail);
    const base = { config, db: database.db, cache, storage, keyring, logger, events, audit: trail };
    // The guards are built from the context they guard; same object, so per-context caches agree.
    const ctx: AppContext = Object.assign(base, { access: accessGuards(base) });
    attachAuditService(ctx, audit);
    for (const module of modules) {
      for (const subscriber of module.subscribers?.(ctx) ?? []) events.subscribe(subscriber);
      for (const job of module.jobs?.(ctx) ?? []) events.schedule(job);
      for (const service of module.services?.(ctx) ?? []) events.runAlongside(service);
    }
    return {
      ctx,
      database,
      redis,
      healthChecks() {
        const checks: HealthCheck[] = [
          {
            name: 'database',
            async run() {
              await database.db.query('SELECT 1');
              return database.db.kind;
            },
          },
          {
            name: 'storage',
            async run() {
              await storage.check();
              return config.storage.kind;
            },
          },
          diskSpaceCheck(config.dataDir, config.diskMinFreeBytes),
        ];
        if (config.redisUrl) checks.push({ name: 'redis', run: () => cache.check() });
        checks.push(...eventHealthChecks(events));
        return [...checks, ...modules.flatMap((m) => m.healthChecks?.(ctx) ?? [])];
      },
      async close() {
        for (const close of closers) await close();
      },
    };
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
}
