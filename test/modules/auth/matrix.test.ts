import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUILTIN_ROLES } from '../../../src/modules/auth/rbac.js';
import { authHarness, STRONG_PASSWORD, type Harness, type TestUser } from './harness.js';

type Role = (typeof BUILTIN_ROLES)[number];

interface Probe {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: (ctx: { victim: TestUser; role: Role }) => string;
  body?: (ctx: { victim: TestUser; role: Role }) => unknown;
  /** Roles that are allowed; every other role must get 403. */
  allow: Role[] | 'all';
}

const CLINICAL: Role[] = ['physician', 'nurse', 'pharmacist'];

/**
 * THE permission matrix: each built-in role × each protected route → allow or deny, asserted
 * against the running app. Users of organization-scoped roles belong to org1; the patient user
 * is p-org1-a. Rows marked BOLA try another patient's record. Extend with the FHIR routes as
 * they land.
 */
const MATRIX: Probe[] = [
  { name: 'GET own principal', method: 'GET', url: () => '/api/v1/auth/me', allow: 'all' },
  { name: 'GET own sessions', method: 'GET', url: () => '/api/v1/auth/sessions', allow: 'all' },
  {
    name: 'list users',
    method: 'GET',
    url: () => '/api/v1/admin/users',
    allow: ['system_admin', 'security_officer', 'compliance_officer'],
  },
  {
    name: 'create user',
    method: 'POST',
    url: () => '/api/v1/admin/users',
    body: ({ role }) => ({
      email: `created-by-${role}@example.org`,
      roles: ['analyst'],
      password: STRONG_PASSWORD,
    }),
    allow: ['system_admin'],
  },
  {
    name: 'effective permissions of a user',
    method: 'GET',
    url: ({ victim }) => `/api/v1/admin/users/${victim.id}/permissions`,
    allow: ['system_admin', 'security_officer', 'compliance_officer'],
  },
  {
    name: 'assign roles',
    method: 'PUT',
    url: ({ victim }) => `/api/v1/admin/users/${victim.id}/roles`,
    body: () => ({ roles: ['analyst'] }),
    allow: ['system_admin'],
  },
  {
    name: 'set organization / care team',
    method: 'PUT',
    url: ({ victim }) => `/api/v1/admin/users/${victim.id}/access`,
    body: () => ({ organizationIds: ['org1'], careTeamPatientIds: [] }),
    allow: ['system_admin'],
  },
  {
    name: 'unlock a user',
    method: 'POST',
    url: ({ victim }) => `/api/v1/admin/users/${victim.id}/unlock`,
    allow: ['system_admin', 'security_officer'],
  },
  {
    name: "revoke a user's sessions",
    method: 'DELETE',
    url: ({ victim }) => `/api/v1/admin/users/${victim.id}/sessions`,
    allow: ['system_admin', 'security_officer'],
  },
  {
    name: 'list roles',
    method: 'GET',
    url: () => '/api/v1/admin/roles',
    allow: ['system_admin', 'security_officer', 'compliance_officer'],
  },
  {
    name: 'create role',
    method: 'POST',
    url: () => '/api/v1/admin/roles',
    body: ({ role }) => ({ name: `custom_by_${role}`, permissions: ['patient:read'] }),
    allow: ['system_admin'],
  },
  {
    name: 'list access rules',
    method: 'GET',
    url: () => '/api/v1/admin/access-rules',
    allow: ['system_admin', 'security_officer'],
  },
  {
    name: 'list OAuth clients',
    method: 'GET',
    url: () => '/api/v1/admin/oauth-clients',
    allow: ['system_admin'],
  },
  // Step-up routes: no role passes without a fresh MFA verification.
  {
    name: 'rotate signing key (step-up)',
    method: 'POST',
    url: () => '/api/v1/admin/keys/token-signing/rotate',
    allow: [],
  },
  {
    name: 'break-glass (step-up)',
    method: 'POST',
    url: () => '/api/v1/auth/break-glass',
    body: () => ({ patientId: 'p-org2-a', reason: 'Unconscious patient in the ER' }),
    allow: [],
  },
  { name: 'bulk export probe (step-up)', method: 'POST', url: () => '/probe/export', allow: [] },
  {
    name: 'read Patient in own organization',
    method: 'GET',
    url: () => '/probe/Patient/p-org1-a',
    allow: [...CLINICAL, 'registrar', 'integration', 'patient'],
  },
  {
    name: 'BOLA: read Patient of another organization',
    method: 'GET',
    url: () => '/probe/Patient/p-org2-a',
    allow: [],
  },
  {
    name: 'BOLA: read another Patient of the same organization',
    method: 'GET',
    url: () => '/probe/Patient/p-org1-b',
    allow: [...CLINICAL, 'registrar', 'integration'],
  },
  {
    name: "read a patient's immunizations",
    method: 'GET',
    url: () => '/probe/Immunization/patient/p-org1-a',
    allow: [...CLINICAL, 'integration', 'patient'],
  },
  {
    name: "BOLA: read another patient's immunizations",
    method: 'GET',
    url: () => '/probe/Immunization/patient/p-org1-b',
    allow: [...CLINICAL, 'integration'],
  },
  {
    name: 'BOLA: read immunizations in another organization',
    method: 'GET',
    url: () => '/probe/Immunization/patient/p-org2-b',
    allow: [],
  },
  {
    name: 'search immunizations (scope inside SQL)',
    method: 'GET',
    url: () => '/probe/Immunization',
    allow: [...CLINICAL, 'integration', 'patient'],
  },
  {
    name: 'record an immunization',
    method: 'POST',
    url: () => '/probe/Immunization',
    body: () => ({ patient: 'p-org1-a' }),
    allow: [...CLINICAL, 'integration'],
  },
  {
    name: 'BOLA: record an immunization for another organization',
    method: 'POST',
    url: () => '/probe/Immunization',
    body: () => ({ patient: 'p-org2-a' }),
    allow: [],
  },
  {
    name: 'read the audit trail',
    method: 'GET',
    url: () => '/probe/AuditEvent',
    allow: ['security_officer', 'compliance_officer'],
  },
  { name: 'aggregate analytics', method: 'GET', url: () => '/probe/analytics', allow: ['analyst'] },
];

describe('permission matrix: built-in role × protected route', () => {
  let h: Harness;
  const tokens = new Map<Role, string>();
  let victim: TestUser;

  before(async () => {
    // MFA enforcement has its own tests; here every role signs in with a password only.
    h = await authHarness({ mfaRequiredRoles: [] });
    victim = await h.user(['nurse'], { organizationId: 'org1' });
    for (const role of BUILTIN_ROLES) {
      const user = await h.user([role], {
        organizationId: role === 'patient' ? undefined : 'org1',
        patientId: role === 'patient' ? 'p-org1-a' : undefined,
      });
      tokens.set(role, await h.token(user));
    }
  });
  after(() => h.close());

  for (const probe of MATRIX) {
    test(probe.name, async () => {
      const outcomes: string[] = [];
      const anonymous = await h.app.inject({
        method: probe.method,
        url: probe.url({ victim, role: 'analyst' }),
        ...(probe.body ? { payload: probe.body({ victim, role: 'analyst' }) as object } : {}),
      });
      assert.equal(anonymous.statusCode, 401, `${probe.name} without a token`);
      for (const role of BUILTIN_ROLES) {
        const res = await h.app.inject({
          method: probe.method,
          url: probe.url({ victim, role }),
          headers: { authorization: `Bearer ${tokens.get(role)}` },
          ...(probe.body ? { payload: probe.body({ victim, role }) as object } : {}),
        });
        const allowed = probe.allow === 'all' || probe.allow.includes(role);
        const ok = allowed ? res.statusCode >= 200 && res.statusCode < 300 : res.statusCode === 403;
        if (!ok)
          outcomes.push(`${role}: expected ${allowed ? '2xx' : '403'}, got ${res.statusCode} ${res.body}`);
      }
      assert.deepEqual(outcomes, []);
    });
  }

  test('every denial is audited with the route pattern, never the raw URL', () => {
    const denials = h.audit.of('authz.denied');
    assert.ok(denials.length > 50);
    for (const d of denials) {
      assert.equal(d.outcome, 'denied');
      assert.ok(d.resource?.id?.startsWith('GET /') || /^(POST|PUT|DELETE) \//.test(d.resource?.id ?? ''));
      assert.doesNotMatch(d.resource?.id ?? '', /p-org/);
    }
  });

  test('search counts only reach the scope: org1 staff see 3, the patient sees their own 2', async () => {
    const nurse = await h.get('/probe/Immunization', tokens.get('nurse'));
    assert.deepEqual(nurse.json(), { total: 3 });
    const patient = await h.get('/probe/Immunization', tokens.get('patient'));
    assert.deepEqual(patient.json(), { total: 2 });
  });

  test('an unknown role grants nothing', async () => {
    await h.ctx.db.query("INSERT INTO auth_roles (name) VALUES ('empty_role')");
    const user = await h.user(['empty_role'], { organizationId: 'org1' });
    const token = await h.token(user);
    const me = (await h.get('/api/v1/auth/me', token)).json() as {
      permissions: string[];
      scope: { kind: string };
    };
    assert.deepEqual(me.permissions, []);
    assert.equal(me.scope.kind, 'none');
    assert.equal((await h.get('/probe/Patient/p-org1-a', token)).statusCode, 403);
    const res = await h.app.inject({
      method: 'PUT',
      url: `/api/v1/admin/users/${user.id}/roles`,
      headers: { authorization: `Bearer ${tokens.get('system_admin')}` },
      payload: { roles: ['no_such_role'] },
    });
    assert.equal(res.statusCode, 422);
  });
});
