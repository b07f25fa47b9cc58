import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import { loadConfig } from '../../../src/config.js';
import { createAuditModule } from '../../../src/modules/audit/index.js';
import { createFhirModule } from '../../../src/modules/fhir/index.js';
import { authMigrations } from '../../../src/modules/auth/schema.js';
import { createAuth, type Auth } from '../../../src/modules/auth/wiring.js';
import type { AuthOptions } from '../../../src/modules/auth/options.js';
import { registerAuthRoutes } from '../../../src/modules/auth/routes.js';
import type { MailMessage, MailPort } from '../../../src/modules/auth/mail.js';
import type { AuditRecord, AuditTrail } from '../../../src/platform/audit/port.js';
import type { AccessGuards } from '../../../src/platform/auth/port.js';
import { fhirPermission } from '../../../src/platform/auth/port.js';
import type { AppContext } from '../../../src/platform/context.js';
import { migrate } from '../../../src/platform/db/migrations.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { Queryable, Transaction } from '../../../src/platform/db/types.js';
import type { DomainEvent, EventPublisher, NewEvent } from '../../../src/platform/events/port.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { errors } from '../../../src/platform/http/errors.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import { openRuntime, type Runtime } from '../../../src/runtime.js';
import { scopeAllowsPatient, scopeSqlFilter } from '../../../src/modules/auth/abac.js';
import { testDatabase } from '../../helpers/db.js';

/** Records events once their transaction commits, like the real bus hands them on. */
export class RecordingEvents implements EventPublisher {
  readonly published: NewEvent[] = [];
  async publish<P>(tx: Transaction, event: NewEvent<P>): Promise<DomainEvent<P>> {
    tx.afterCommit(() => {
      this.published.push(event as NewEvent);
    });
    return {
      id: randomUUID(),
      type: event.type,
      schemaVersion: event.schemaVersion ?? 1,
      occurredAt: new Date().toISOString(),
      actor: event.actor ?? null,
      aggregate: event.aggregate,
      correlationId: event.correlationId ?? null,
      causationId: event.causationId ?? null,
      payload: event.payload,
    };
  }
  async publishMany(
    tx: Transaction,
    events: ReadonlyArray<NewEvent<unknown>>,
  ): Promise<DomainEvent<unknown>[]> {
    const out: DomainEvent<unknown>[] = [];
    for (const event of events) out.push(await this.publish(tx, event));
    return out;
  }
  of(type: string): NewEvent[] {
    return this.published.filter((e) => e.type === type);
  }
}

export class RecordingAudit implements AuditTrail {
  readonly entries: AuditRecord[] = [];
  async record(entry: AuditRecord, tx?: Queryable): Promise<void> {
    const t = tx as Partial<Transaction> | undefined;
    if (t?.afterCommit) t.afterCommit(() => void this.entries.push(entry));
    else this.entries.push(entry);
  }
  async recordMany(entries: readonly AuditRecord[], tx: Queryable): Promise<void> {
    for (const entry of entries) await this.record(entry, tx);
  }
  of(action: string): AuditRecord[] {
    return this.entries.filter((e) => e.action === action);
  }
}

export class RecordingMail implements MailPort {
  readonly sent: MailMessage[] = [];
  async send(message: MailMessage): Promise<void> {
    this.sent.push(message);
  }
}

/** Fast argon2 parameters for tests only; production defaults are in options.ts. */
export const CHEAP_HASH = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
export const STRONG_PASSWORD = 'Correct-Horse-Battery-Staple-42';

/** Test patients: id → managing organization. */
export const PATIENTS: Record<string, string> = {
  'p-org1-a': 'org1',
  'p-org1-b': 'org1',
  'p-org1-c': 'org1',
  'p-org2-a': 'org2',
  'p-org2-b': 'org2',
};

/**
 * Stand-ins for FHIR routes (built elsewhere) guarded like they will be: permission from
 * fhirPermission, patient scope on single reads and inside the search SQL.
 */
export function registerProbeRoutes(app: FastifyInstance, guards: AccessGuards, db: Queryable): void {
  const inScope = (scope: NonNullable<Parameters<typeof scopeAllowsPatient>[0]>, id: string) => {
    if (!scopeAllowsPatient(scope, id, PATIENTS[id] ?? null))
      throw errors.forbidden('Patient outside your scope');
  };
  app.get<{ Params: { id: string } }>(
    '/probe/Patient/:id',
    { onRequest: guards.require(fhirPermission('Patient', 'read')) },
    async (request) => {
      inScope(request.principal!.scope, request.params.id);
      return { resourceType: 'Patient', id: request.params.id };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/probe/Immunization/patient/:id',
    { onRequest: guards.require(fhirPermission('Immunization', 'read')) },
    async (request) => {
      inScope(request.principal!.scope, request.params.id);
      return { resourceType: 'Bundle', patient: request.params.id };
    },
  );
  app.post<{ Body: { patient: string } }>(
    '/probe/Immunization',
    { onRequest: guards.require(fhirPermission('Immunization', 'write')) },
    async (request, reply) => {
      inScope(request.principal!.scope, request.body.patient);
      return reply.code(201).send({ resourceType: 'Immunization', patient: request.body.patient });
    },
  );
  app.get(
    '/probe/Immunization',
    { onRequest: guards.require(fhirPermission('Immunization', 'read')) },
    async (request) => {
      const filter = scopeSqlFilter(
        request.principal!.scope,
        { patientId: 'patient_id', organizationId: 'organization_id' },
        1,
      );
      const result = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM probe_immunizations WHERE ${filter.sql}`,
        filter.params,
      );
      return { total: result.rows[0]?.n ?? 0 };
    },
  );
  app.get(
    '/probe/AuditEvent',
    { onRequest: guards.require(fhirPermission('AuditEvent', 'read')) },
    async () => ({
      ok: true,
    }),
  );
  app.get('/probe/analytics', { onRequest: guards.require('analytics:read') }, async () => ({ ok: true }));
  app.post('/probe/export', { onRequest: guards.requireFreshMfa(300, 'patient:read') }, async () => ({
    ok: true,
  }));
  app.get('/probe/noop', { onRequest: guards.require() }, async () => ({ ok: true }));
  app.get('/probe/public', async () => ({ ok: true }));
}

export interface Harness {
  app: FastifyInstance;
  auth: Auth;
  ctx: AppContext;
  runtime: Runtime;
  events: RecordingEvents;
  audit: RecordingAudit;
  mail: RecordingMail;
  logs: Array<Record<string, unknown>>;
  /** Creates a user with a known strong password (and optional org / patient link). */
  user(
    roles: string[],
    extra?: { organizationId?: string; patientId?: string; email?: string },
  ): Promise<TestUser>;
  login(email: string, password?: string, ip?: string): Promise<LightMyRequestResponse>;
  /** Signs in and returns the access token (fails the test otherwise). */
  token(user: TestUser): Promise<string>;
  get(url: string, token?: string, ip?: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

/** Where a harness keeps its state and which product routes it mounts besides the probes. */
export interface HarnessSetup {
  /**
   * The database; default {@link testDatabase}: in-memory PGlite offline, a fresh schema on
   * DATABASE_URL in the integration suite. A handle passed in is shared, not closed.
   */
  database?: DatabaseHandle;
  /** Redis for the cache (and the session invalidation channel); default REDIS_URL, if set. */
  redisUrl?: string;
  /** Also mount the FHIR and audit modules' routes behind this harness's guards. */
  fhir?: boolean;
}

export async function authHarness(
  options: Partial<AuthOptions> = {},
  env: Record<string, string> = {},
  setup: HarnessSetup = {},
): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-auth-test-'));
  const redisUrl = setup.redisUrl ?? process.env.REDIS_URL;
  const config = loadConfig({
    NODE_ENV: 'test',
    IRIS_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: '100000',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('info', sink);
  const runtime = await openRuntime(config, logger, {
    server: true,
    migrate: true,
    database: setup.database ? { ...setup.database, close: async () => {} } : await testDatabase(),
  });
  const ctx = runtime.ctx;
  await migrate(ctx.db, authMigrations);
  await ctx.db.exec(`CREATE TABLE IF NOT EXISTS probe_immunizations (patient_id text, organization_id text);
    INSERT INTO probe_immunizations SELECT * FROM (VALUES ('p-org1-a', 'org1'), ('p-org1-a', 'org1'),
      ('p-org1-b', 'org1'), ('p-org2-a', 'org2'), ('p-org2-b', 'org2')) AS v
     WHERE NOT EXISTS (SELECT 1 FROM probe_immunizations);`);
  const events = new RecordingEvents();
  const audit = new RecordingAudit();
  const mail = new RecordingMail();
  const auth = createAuth(ctx, {
    events,
    audit,
    mail,
    options: {
      passwordHash: CHEAP_HASH,
      bootstrapAdmin: false,
      cacheNamespace: `auth-${randomUUID()}`,
      ...options,
    },
  });
  const app = await createHttpApp({
    config,
    logger,
    metrics: createMetrics(() => ctx.db.stats()),
    version: 'test',
  });
  app.addHook('onRequest', auth.guards.hook);
  await app.register(async (scope) => registerAuthRoutes(scope, auth.service, auth.admin));
  registerProbeRoutes(app, auth.guards, ctx.db);
  if (setup.fhir) {
    const fhir = createFhirModule({ access: { guards: auth.guards } });
    const audit = createAuditModule({ guard: (permission) => auth.guards.require(permission) });
    await app.register(async (scope) => {
      await fhir.routes?.(scope, ctx);
      await audit.routes?.(scope, ctx);
    });
  }
  await app.ready();

  let n = 0;
  const h: Harness = {
    app,
    auth,
    ctx,
    runtime,
    events,
    audit,
    mail,
    logs,
    async user(roles, extra = {}) {
      n += 1;
      const email = extra.email ?? `user${n}-${roles.join('-') || 'none'}@example.org`;
      const created = await auth.admin.createUser(
        {
          email,
          name: `Test User ${n}`,
          roles,
          password: STRONG_PASSWORD,
          organizationId: extra.organizationId ?? null,
          patientId: extra.patientId ?? null,
        },
        { type: 'system', id: 'test' },
      );
      return { id: created.user.id, email, password: STRONG_PASSWORD };
    },
    login(email, password = STRONG_PASSWORD, ip) {
      return app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email, password },
        ...(ip ? { remoteAddress: ip } : {}),
      });
    },
    async token(user) {
      const res = await h.login(user.email, user.password);
      const body = res.json() as { accessToken?: string };
      if (res.statusCode !== 200 || !body.accessToken)
        throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      return body.accessToken;
    },
    get(url, token, ip) {
      return app.inject({
        method: 'GET',
        url,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(ip ? { remoteAddress: ip } : {}),
      });
    },
    async close() {
      await app.close();
      await runtime.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

/** The TOTP code of `secret` at `at` (ms), as an authenticator app would show it. */
export function totpCode(secret: string, at = Date.now()): string {
  return new TOTP({ secret: Secret.fromBase32(secret), period: 30, digits: 6, algorithm: 'SHA1' }).generate({
    timestamp: at,
  });
}
