import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { violatedRule } from '../../../src/modules/auth/access-rules.js';
import { computeScope } from '../../../src/modules/auth/abac.js';
import { registerAuthCommands, parseTtl } from '../../../src/modules/auth/cli.js';
import { LogMailer } from '../../../src/modules/auth/mail.js';
import { scopePermissions } from '../../../src/modules/auth/oauth.js';
import { checkPasswordPolicy } from '../../../src/modules/auth/passwords.js';
import { authModule } from '../../../src/modules/auth/index.js';
import { authFor, bootstrapFirstAdmin, createAuth } from '../../../src/modules/auth/wiring.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import type { AppContext } from '../../../src/platform/context.js';
import { authHarness, bearer, CHEAP_HASH, STRONG_PASSWORD, type Harness } from './harness.js';

describe('password policy, scopes and rules (pure)', () => {
  test('the password policy rejects short, common, dictionary and account-derived passwords', () => {
    for (const weak of [
      'short1!',
      'password1234',
      'qwertyuiop123',
      'Password1234!',
      'iloveyou2020!!',
      'Summer2024!!',
      'maria.lopez2024',
    ]) {
      assert.throws(
        () => checkPasswordPolicy(weak, ['maria.lopez@example.org', 'Maria Lopez']),
        /password/i,
        weak,
      );
    }
    checkPasswordPolicy('Vaccine-Ledger-Orbit-77');
    checkPasswordPolicy(STRONG_PASSWORD);
  });

  test('SMART system scopes map onto permissions through fhirPermission', () => {
    assert.deepEqual(scopePermissions('system/Immunization.read'), ['immunization:read']);
    assert.deepEqual(scopePermissions('system/Patient.write'), ['patient:write']);
    assert.deepEqual(scopePermissions('system/Observation.rs'), ['clinical:read']);
    assert.deepEqual(scopePermissions('system/Immunization.cruds').sort(), [
      'immunization:delete',
      'immunization:read',
      'immunization:write',
    ]);
    assert.deepEqual(scopePermissions('system/*.read'), []);
    assert.deepEqual(scopePermissions('user/Immunization.read'), []);
    assert.deepEqual(scopePermissions('openid'), []);
  });

  test('patient scope: organizations + care team + break-glass; own record; nothing by default', () => {
    assert.deepEqual(
      computeScope({
        roleScopes: ['organization'],
        organizationIds: ['o1'],
        careTeamPatientIds: ['p9'],
        ownPatientId: null,
        breakGlassPatientIds: ['p7'],
      }),
      { kind: 'organizations', organizationIds: ['o1'], extraPatientIds: ['p7', 'p9'] },
    );
    assert.deepEqual(
      computeScope({
        roleScopes: ['own'],
        organizationIds: ['o1'],
        careTeamPatientIds: [],
        ownPatientId: 'p1',
        breakGlassPatientIds: [],
      }),
      { kind: 'patients', patientIds: ['p1'] },
    );
    assert.deepEqual(
      computeScope({
        roleScopes: ['own'],
        organizationIds: [],
        careTeamPatientIds: [],
        ownPatientId: null,
        breakGlassPatientIds: [],
      }),
      { kind: 'none' },
    );
    assert.deepEqual(
      computeScope({
        roleScopes: ['none'],
        organizationIds: ['o1'],
        careTeamPatientIds: ['p2'],
        ownPatientId: null,
        breakGlassPatientIds: [],
      }),
      { kind: 'none' },
    );
  });

  test('allowed hours in a time zone (with windows past midnight) and CIDR allow-lists', () => {
    const weekdays = {
      id: 'r',
      subjectType: 'role' as const,
      subject: 'nurse',
      kind: 'hours' as const,
      timeZone: 'America/New_York',
      days: [1, 2, 3, 4, 5],
      startMinute: 7 * 60,
      endMinute: 19 * 60,
    };
    // Wednesday 2026-01-14 15:00Z = 10:00 in New York.
    assert.equal(violatedRule([weekdays], '10.0.0.1', new Date('2026-01-14T15:00:00Z')), null);
    // Wednesday 03:00Z = Tuesday 22:00 in New York: outside.
    assert.equal(violatedRule([weekdays], '10.0.0.1', new Date('2026-01-14T03:00:00Z')), 'hours');
    const night = { ...weekdays, days: [5], startMinute: 22 * 60, endMinute: 6 * 60 };
    // Saturday 2026-01-17 08:00Z = 03:00 New York, the Friday night shift.
    assert.equal(violatedRule([night], '10.0.0.1', new Date('2026-01-17T08:00:00Z')), null);
    const network = {
      id: 'n',
      subjectType: 'role' as const,
      subject: 'nurse',
      kind: 'network' as const,
      cidrs: ['10.0.0.0/8', '2001:db8::/32'],
    };
    assert.equal(violatedRule([network], '10.20.30.40', new Date()), null);
    assert.equal(violatedRule([network], '::ffff:10.20.30.40', new Date()), null);
    assert.equal(violatedRule([network], '2001:db8::1', new Date()), null);
    assert.equal(violatedRule([network], '192.168.1.1', new Date()), 'network');
    assert.equal(violatedRule([], '192.168.1.1', new Date()), null);
  });

  test('ttl parsing for iris token caps at 15 minutes', () => {
    assert.equal(parseTtl('15m'), 900);
    assert.equal(parseTtl('90s'), 90);
    assert.throws(() => parseTtl('16m'), /between/);
    assert.throws(() => parseTtl('1h'), /duration/);
  });
});

describe('access rules, machine clients, administration and CLI', () => {
  let h: Harness;
  let adminToken: string;

  before(async () => {
    h = await authHarness({ mfaRequiredRoles: [] });
    adminToken = await h.token(await h.user(['system_admin']));
  });
  after(() => h.close());

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    url: string,
    payload?: object,
    token = adminToken,
  ) => h.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });

  test('a network rule applies at sign-in and on every request of live sessions', async () => {
    const nurse = await h.user(['pharmacist'], { organizationId: 'org1' });
    const token = await h.token(nurse);
    const rule = await call('POST', '/api/v1/admin/access-rules', {
      subjectType: 'role',
      subject: 'pharmacist',
      kind: 'network',
      cidrs: ['10.0.0.0/8'],
    });
    assert.equal(rule.statusCode, 201, rule.body);
    const denied = await h.get('/probe/Patient/p-org1-a', token);
    assert.equal(denied.statusCode, 403, 'the live session from 127.0.0.1 is cut off at once');
    assert.equal(h.audit.of('authz.denied').at(-1)?.details?.rule, 'network');
    assert.equal((await h.get('/probe/Patient/p-org1-a', token, '10.2.3.4')).statusCode, 200);
    assert.equal((await h.login(nurse.email)).statusCode, 403);
    assert.equal((await h.login(nurse.email, STRONG_PASSWORD, '10.2.3.4')).statusCode, 200);
    const bad = await call('POST', '/api/v1/admin/access-rules', {
      subjectType: 'role',
      subject: 'nurse',
      kind: 'network',
      cidrs: ['10.0.0/33'],
    });
    assert.equal(bad.statusCode, 422);
    await call('DELETE', `/api/v1/admin/access-rules/${(rule.json() as { id: string }).id}`);
    assert.equal((await h.get('/probe/Patient/p-org1-a', token)).statusCode, 200);
  });

  test('an allowed-hours rule for a user blocks requests outside the window', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const token = await h.token(user);
    const now = new Date();
    const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
    const rule = await call('POST', '/api/v1/admin/access-rules', {
      subjectType: 'user',
      subject: user.id,
      kind: 'hours',
      timeZone: 'UTC',
      days: [1, 2, 3, 4, 5, 6, 7],
      startMinute: (minute + 120) % 1440,
      endMinute: (minute + 180) % 1440,
    });
    assert.equal(rule.statusCode, 201, rule.body);
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 403);
    assert.equal((await h.login(user.email)).statusCode, 403);
  });

  test('OAuth2 client credentials: hashed secret, SMART scopes narrowed to the role, revocable at once', async () => {
    const created = await call('POST', '/api/v1/admin/oauth-clients', {
      name: 'State registry callbacks',
      scopes: ['system/Immunization.read', 'system/Patient.read'],
      organizationId: 'org1',
    });
    assert.equal(created.statusCode, 201, created.body);
    const { client, secret } = created.json() as { client: { id: string }; secret: string };
    const stored = await h.ctx.db.query<{ secret_hash: string }>(
      'SELECT secret_hash FROM auth_oauth_clients WHERE id = $1',
      [client.id],
    );
    assert.notEqual(stored.rows[0]?.secret_hash, secret);

    const token = (form: Record<string, string>, basic?: string) =>
      h.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(basic ? { authorization: `Basic ${basic}` } : {}),
        },
        payload: new URLSearchParams(form).toString(),
      });
    const basic = Buffer.from(`${client.id}:${secret}`).toString('base64');
    const issued = await token(
      { grant_type: 'client_credentials', scope: 'system/Immunization.read' },
      basic,
    );
    assert.equal(issued.statusCode, 200, issued.body);
    const body = issued.json() as {
      access_token: string;
      token_type: string;
      expires_in: number;
      scope: string;
    };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'system/Immunization.read');
    assert.ok(body.expires_in <= 900);

    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', body.access_token)).statusCode, 200);
    assert.equal(
      (await h.get('/probe/Patient/p-org1-a', body.access_token)).statusCode,
      403,
      'scope not requested',
    );
    assert.equal(
      (await h.get('/probe/Immunization/patient/p-org2-a', body.access_token)).statusCode,
      403,
      'BOLA',
    );
    const write = await h.app.inject({
      method: 'POST',
      url: '/probe/Immunization',
      headers: bearer(body.access_token),
      payload: { patient: 'p-org1-a' },
    });
    assert.equal(write.statusCode, 403, 'no write scope');

    const wrong = await token({
      grant_type: 'client_credentials',
      client_id: client.id,
      client_secret: 'ics_wrong',
    });
    assert.equal(wrong.statusCode, 401);
    assert.equal((wrong.json() as { error: string }).error, 'invalid_client');
    const unknown = await token({
      grant_type: 'client_credentials',
      client_id: 'client-nope',
      client_secret: secret,
    });
    assert.equal(unknown.statusCode, 401);
    const widen = await token(
      { grant_type: 'client_credentials', scope: 'system/Immunization.write' },
      basic,
    );
    assert.equal((widen.json() as { error: string }).error, 'invalid_scope');
    const grant = await token({ grant_type: 'password' }, basic);
    assert.equal((grant.json() as { error: string }).error, 'unsupported_grant_type');

    assert.equal((await call('DELETE', `/api/v1/admin/oauth-clients/${client.id}`)).statusCode, 204);
    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', body.access_token)).statusCode, 401);
  });

  test('roles are data: create, edit (applies to live sessions), show effective permissions, delete', async () => {
    const created = await call('POST', '/api/v1/admin/roles', {
      name: 'school_nurse',
      description: 'Reads immunizations of the school roster',
      patientScope: 'organization',
      permissions: ['immunization:read'],
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(h.events.of('role.changed').at(-1)?.aggregate.id, 'school_nurse');
    const user = await h.user(['school_nurse'], { organizationId: 'org1' });
    const token = await h.token(user);
    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', token)).statusCode, 200);
    assert.equal((await h.get('/probe/Patient/p-org1-a', token)).statusCode, 403);
    const edit = await call('PUT', '/api/v1/admin/roles/school_nurse', {
      permissions: ['immunization:read', 'patient:read'],
    });
    assert.equal(edit.statusCode, 200);
    assert.equal((await h.get('/probe/Patient/p-org1-a', token)).statusCode, 200);
    const effective = (await call('GET', `/api/v1/admin/users/${user.id}/permissions`)).json() as {
      permissions: string[];
    };
    assert.deepEqual(effective.permissions, ['immunization:read', 'patient:read']);
    assert.equal((await call('DELETE', '/api/v1/admin/roles/nurse')).statusCode, 409, 'built-in roles stay');
    assert.equal((await call('DELETE', '/api/v1/admin/roles/school_nurse')).statusCode, 204);
    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', token)).statusCode, 403);
  });

  test('care-team membership extends a clinician beyond the organization', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const token = await h.token(user);
    assert.equal((await h.get('/probe/Patient/p-org2-b', token)).statusCode, 403);
    const set = await call('PUT', `/api/v1/admin/users/${user.id}/access`, {
      organizationIds: [],
      careTeamPatientIds: ['p-org2-b'],
    });
    assert.equal(set.statusCode, 200);
    assert.equal((await h.get('/probe/Patient/p-org2-b', token)).statusCode, 200);
    assert.equal((await h.get('/probe/Patient/p-org2-a', token)).statusCode, 403);
  });

  test('users CRUD over HTTP: the generated password is shown once; disable via DELETE', async () => {
    const created = await call('POST', '/api/v1/admin/users', {
      email: 'clerk@example.org',
      roles: ['registrar'],
      name: 'Clerk',
    });
    assert.equal(created.statusCode, 201);
    const { user, password } = created.json() as {
      user: { id: string; mustChangePassword: boolean };
      password: string;
    };
    assert.equal(user.mustChangePassword, true);
    assert.ok(password.length >= 20);
    assert.equal((await call('GET', `/api/v1/admin/users/${user.id}`)).json().email, 'clerk@example.org');
    const patched = await call('PATCH', `/api/v1/admin/users/${user.id}`, {
      name: 'Registry Clerk',
      organizationId: 'org2',
    });
    assert.equal((patched.json() as { organizationId: string }).organizationId, 'org2');
    const list = (await call('GET', '/api/v1/admin/users')).json() as Array<{ id: string; email: string }>;
    assert.ok(list.some((u) => u.id === user.id));
    assert.ok(!JSON.stringify(list).includes('argon2'), 'no hashes in answers');
    assert.equal((await call('DELETE', `/api/v1/admin/users/${user.id}`)).json().status, 'disabled');
    assert.equal(
      (await call('POST', '/api/v1/admin/users', { email: 'CLERK@example.org', roles: ['registrar'] }))
        .statusCode,
      409,
    );
  });

  test('OpenAPI documents the auth routes with bearer security and problem+json errors', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          { security?: unknown; responses: Record<string, { content?: Record<string, unknown> }> }
        >
      >;
    };
    for (const path of [
      '/api/v1/auth/login',
      '/api/v1/auth/refresh',
      '/api/v1/auth/mfa/enroll',
      '/oauth2/token',
      '/.well-known/jwks.json',
      '/api/v1/admin/users',
    ]) {
      assert.ok(doc.paths[path], path);
    }
    const me = doc.paths['/api/v1/auth/me']?.get;
    assert.ok(me?.security);
    assert.ok(me?.responses['401']?.content?.['application/problem+json']);
  });

  test('iris user create / iris token: generated password printed once; token audited and working', async () => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const program = new Command().exitOverride();
    const ctx = Object.assign(Object.create(null) as object, h.ctx, {
      events: h.events,
      audit: h.audit,
    }) as AppContext;
    registerAuthCommands(program, async () => ctx);
    // Only our strings: the test runner reports through the same stream in binary frames.
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      if (typeof chunk !== 'string') return write(chunk, ...rest);
      out.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      await program.parseAsync([
        'node',
        'iris',
        'user',
        'create',
        '--email',
        'ops@example.org',
        '--role',
        'system_admin',
      ]);
      await program.parseAsync(['node', 'iris', 'token', '--email', 'ops@example.org', '--ttl', '5m']);
    } finally {
      process.stdout.write = write;
    }
    assert.match(out[0] ?? '', /created ops@example.org/);
    const password = /password[^:]*: (\S+)/.exec(out[1] ?? '')?.[1] ?? '';
    assert.ok(password.length >= 20);
    const token = (out[2] ?? '').trim();
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 200);
    const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as {
      exp: number;
      iat: number;
    };
    assert.equal(payload.exp - payload.iat, 300);
    assert.equal(h.audit.of('auth.operator_token').length, 1);
  });

  test('development first start creates one administrator with a one-time password; never twice, never in production', async () => {
    const fresh = await authHarness({ bootstrapAdmin: true });
    try {
      const printed: string[] = [];
      const auth = fresh.auth;
      assert.equal(await bootstrapFirstAdmin(auth, (t) => printed.push(t)), true);
      assert.match(printed.join(''), /admin@iris\.local/);
      const password = /sign-in\): (\S+)/.exec(printed.join(''))?.[1] ?? '';
      const login = (await fresh.login('admin@iris.local', password)).json() as { requiredActions: string[] };
      assert.deepEqual(login.requiredActions, ['change_password', 'enroll_mfa']);
      assert.equal(await bootstrapFirstAdmin(auth, (t) => printed.push(t)), false);
      const production = createAuth(fresh.ctx, {
        events: fresh.events,
        audit: fresh.audit,
        options: { bootstrapAdmin: false, passwordHash: CHEAP_HASH },
      });
      assert.equal(await bootstrapFirstAdmin(production, () => undefined), false);
    } finally {
      await fresh.close();
    }
  });

  test('as an IrisModule: migrations, and routes mounted from a context carrying the ports', async () => {
    assert.equal(authModule.name, 'auth');
    assert.ok(authModule.migrations?.every((m) => m.id.startsWith('auth/')));
    const ctx = Object.assign(Object.create(null) as object, h.ctx, {
      events: h.events,
      audit: h.audit,
    }) as AppContext;
    const app = await createHttpApp({
      config: h.ctx.config,
      logger: h.ctx.logger,
      metrics: createMetrics(() => h.ctx.db.stats()),
      version: 'test',
    });
    await app.register(async (scope) => authModule.routes?.(scope, ctx));
    await app.ready();
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/auth/me' })).statusCode, 401);
    } finally {
      await app.close();
    }
    const withoutPorts = Object.assign(Object.create(null) as object, h.ctx) as Record<string, unknown>;
    delete withoutPorts.events;
    delete withoutPorts.audit;
    assert.throws(() => authFor(withoutPorts as unknown as AppContext), /event bus/);
  });

  test('the development mailer logs the link in the message only', async () => {
    const lines: Array<{ obj: unknown; msg: string }> = [];
    const logger = { info: (obj: unknown, msg: string) => lines.push({ obj, msg }) };
    await new LogMailer(logger as never).send({
      to: 'a@example.org',
      subject: 'Reset',
      text: 'Reset at https://x/#token=iprt_SECRET',
    });
    assert.match(lines[0]?.msg ?? '', /iprt_SECRET/);
    assert.doesNotMatch(JSON.stringify(lines[0]?.obj), /iprt_SECRET|a@example\.org/);
  });
});
