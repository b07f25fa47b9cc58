import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import { BUILTIN_ROLES } from '../../../src/modules/auth/rbac.js';
import { fhirStore, SYSTEM_CONTEXT } from '../../../src/modules/fhir/index.js';
import { authHarness, STRONG_PASSWORD, type Harness, type TestUser } from './harness.js';

type Role = (typeof BUILTIN_ROLES)[number];

const TX_PATIENT = '0f0e6a0c-3a3b-4c8e-9d55-6f1e2b7a9c01';

interface Probe {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: (ctx: { victim: TestUser; role: Role }) => string;
  body?: (ctx: { victim: TestUser; role: Role }) => unknown;
  /** Roles that are allowed; every other role must get 403 (or 404 when listed in `hidden`). */
  allow: Role[] | 'all';
  /**
   * Roles holding the permission for which the record is outside their reach: a FHIR read
   * answers 404, so a caller cannot learn that a record it may not see exists.
   */
  hidden?: Role[];
}

const CLINICAL: Role[] = ['physician', 'nurse', 'pharmacist'];
/** Holders of patient:read, immunization:read / :write and patient:write, from the role definitions. */
const PATIENT_READERS: Role[] = [...CLINICAL, 'registrar', 'integration', 'patient'];
const IMMUNIZATION_READERS: Role[] = [...CLINICAL, 'integration', 'patient'];
const IMMUNIZATION_WRITERS: Role[] = [...CLINICAL, 'integration'];
const PATIENT_WRITERS: Role[] = ['physician', 'nurse', 'registrar', 'integration'];

const fhirPatient = (id: string | undefined, org: string, given: string) => ({
  resourceType: 'Patient',
  ...(id ? { id } : {}),
  name: [{ family: 'Matrix', given: [given] }],
  managingOrganization: { reference: `Organization/${org}` },
});

const fhirImmunization = (id: string | undefined, patient: string) => ({
  resourceType: 'Immunization',
  ...(id ? { id } : {}),
  status: 'completed',
  vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208' }] },
  patient: { reference: patient },
  occurrenceDateTime: '2021-04-01',
});

/**
 * Records in the FHIR store, written as the system. Patient ids match the probe routes':
 * p-org1-a (the patient user's own record) and p-org1-b in org1, p-org2-a in org2.
 */
const FHIR_FIXTURES: Resource[] = [
  { resourceType: 'Organization', id: 'org1', name: 'Org One' } as Resource,
  { resourceType: 'Organization', id: 'org2', name: 'Org Two' } as Resource,
  fhirPatient('p-org1-a', 'org1', 'Own') as Resource,
  fhirPatient('p-org1-b', 'org1', 'Colleague') as Resource,
  fhirPatient('p-org2-a', 'org2', 'Stranger') as Resource,
  fhirImmunization('imm-org1-a', 'Patient/p-org1-a') as Resource,
  fhirImmunization('imm-org1-b', 'Patient/p-org1-b') as Resource,
  fhirImmunization('imm-org2-a', 'Patient/p-org2-a') as Resource,
];

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
  // The FHIR API as mounted in the product (FHIR module routes, audit module's AuditEvent).
  {
    name: 'FHIR read: Patient in own organization (own record for the patient)',
    method: 'GET',
    url: () => '/fhir/Patient/p-org1-a',
    allow: PATIENT_READERS,
  },
  {
    name: 'BOLA FHIR read: another Patient of the same organization',
    method: 'GET',
    url: () => '/fhir/Patient/p-org1-b',
    allow: [...CLINICAL, 'registrar', 'integration'],
    hidden: ['patient'],
  },
  {
    name: 'BOLA FHIR read: a Patient of another organization',
    method: 'GET',
    url: () => '/fhir/Patient/p-org2-a',
    allow: [],
    hidden: PATIENT_READERS,
  },
  {
    name: 'FHIR search: Patient?name=',
    method: 'GET',
    url: () => '/fhir/Patient?name=Matrix',
    allow: PATIENT_READERS,
  },
  {
    name: 'FHIR create: Patient in own organization',
    method: 'POST',
    url: () => '/fhir/Patient',
    body: ({ role }) => fhirPatient(undefined, 'org1', `Created by ${role}`),
    allow: PATIENT_WRITERS,
  },
  {
    name: 'BOLA FHIR create: Patient managed by another organization',
    method: 'POST',
    url: () => '/fhir/Patient',
    body: ({ role }) => fhirPatient(undefined, 'org2', `Created by ${role}`),
    allow: [],
  },
  {
    name: 'FHIR create: Immunization for a patient of own organization',
    method: 'POST',
    url: () => '/fhir/Immunization',
    body: () => fhirImmunization(undefined, 'Patient/p-org1-a'),
    allow: IMMUNIZATION_WRITERS,
  },
  {
    name: 'BOLA FHIR create: Immunization for a patient of another organization',
    method: 'POST',
    url: () => '/fhir/Immunization',
    body: () => fhirImmunization(undefined, 'Patient/p-org2-a'),
    allow: [],
  },
  {
    // No built-in role holds immunization:delete: a wrong record is corrected by a new version
    // (status entered-in-error), which keeps its history.
    name: 'FHIR delete: Immunization',
    method: 'DELETE',
    url: () => '/fhir/Immunization/imm-org1-a',
    allow: [],
  },
  {
    name: 'FHIR search: Immunization?patient= (own organization / own record)',
    method: 'GET',
    url: () => '/fhir/Immunization?patient=Patient/p-org1-a',
    allow: IMMUNIZATION_READERS,
  },
  {
    name: 'BOLA FHIR search: Immunization?patient= of another organization (empty, see below)',
    method: 'GET',
    url: () => '/fhir/Immunization?patient=Patient/p-org2-a',
    allow: IMMUNIZATION_READERS,
  },
  {
    name: 'FHIR Patient/$everything: own organization (own record for the patient)',
    method: 'GET',
    url: () => '/fhir/Patient/p-org1-a/$everything',
    allow: PATIENT_READERS,
  },
  {
    name: 'BOLA FHIR Patient/$everything: another patient of the same organization',
    method: 'GET',
    url: () => '/fhir/Patient/p-org1-b/$everything',
    allow: [...CLINICAL, 'registrar', 'integration'],
    hidden: ['patient'],
  },
  {
    name: 'BOLA FHIR Patient/$everything: a patient of another organization',
    method: 'GET',
    url: () => '/fhir/Patient/p-org2-a/$everything',
    allow: [],
    hidden: PATIENT_READERS,
  },
  {
    name: 'FHIR search: AuditEvent',
    method: 'GET',
    url: () => '/fhir/AuditEvent',
    allow: ['security_officer', 'compliance_officer'],
  },
  {
    name: 'FHIR transaction: new Patient and its Immunization',
    method: 'POST',
    url: () => '/fhir',
    body: ({ role }) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `urn:uuid:${TX_PATIENT}`,
          resource: fhirPatient(undefined, 'org1', `Transaction by ${role}`),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: fhirImmunization(undefined, `urn:uuid:${TX_PATIENT}`),
          request: { method: 'POST', url: 'Immunization' },
        },
      ],
    }),
    allow: ['physician', 'nurse', 'integration'],
  },
];

describe('permission matrix: built-in role × protected route', () => {
  let h: Harness;
  const tokens = new Map<Role, string>();
  let victim: TestUser;

  before(async () => {
    // MFA enforcement has its own tests; here every role signs in with a password only.
    h = await authHarness({ mfaRequiredRoles: [] }, {}, { fhir: true });
    const store = fhirStore(h.ctx);
    await h.ctx.db.transaction(async (tx) => {
      for (const resource of FHIR_FIXTURES) await store.update(SYSTEM_CONTEXT, tx, resource);
    });
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
      const url = probe.url({ victim, role: 'analyst' });
      const type = url.startsWith('/fhir') ? { 'content-type': 'application/fhir+json' } : {};
      const anonymous = await h.app.inject({
        method: probe.method,
        url,
        ...(probe.body ? { payload: probe.body({ victim, role: 'analyst' }) as object, headers: type } : {}),
      });
      assert.equal(anonymous.statusCode, 401, `${probe.name} without a token`);
      for (const role of BUILTIN_ROLES) {
        const res = await h.app.inject({
          method: probe.method,
          url: probe.url({ victim, role }),
          headers: { authorization: `Bearer ${tokens.get(role)}`, ...(probe.body ? type : {}) },
          ...(probe.body ? { payload: probe.body({ victim, role }) as object } : {}),
        });
        const allowed = probe.allow === 'all' || probe.allow.includes(role);
        const expected = allowed ? '2xx' : probe.hidden?.includes(role) ? '404' : '403';
        const ok = allowed
          ? res.statusCode >= 200 && res.statusCode < 300
          : String(res.statusCode) === expected;
        if (!ok)
          outcomes.push(`${role}: expected ${expected}, got ${res.statusCode} ${res.body.slice(0, 300)}`);
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

  test('FHIR searches stay in scope: the patient finds only their own record, nobody another organization', async () => {
    const found = async (role: Role, url: string) => {
      const res = await h.get(url, tokens.get(role));
      assert.equal(res.statusCode, 200, `${role} ${url}: ${res.body}`);
      const bundle = res.json() as { entry?: Array<{ resource: { resourceType: string; id: string } }> };
      return (bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    };
    assert.deepEqual(await found('patient', '/fhir/Patient?name=Matrix&_count=100'), ['Patient/p-org1-a']);
    const staff = await found('nurse', '/fhir/Patient?name=Matrix&_count=100');
    assert.ok(staff.includes('Patient/p-org1-a') && staff.includes('Patient/p-org1-b'));
    assert.ok(!staff.includes('Patient/p-org2-a'));
    assert.deepEqual(await found('nurse', '/fhir/Immunization?patient=Patient/p-org2-a'), []);
    assert.deepEqual(await found('patient', '/fhir/Immunization?patient=Patient/p-org1-b'), []);
    assert.ok(
      (await found('patient', '/fhir/Immunization?patient=Patient/p-org1-a')).includes(
        'Immunization/imm-org1-a',
      ),
    );
    const everything = await found('patient', '/fhir/Patient/p-org1-a/$everything');
    assert.ok(everything.includes('Immunization/imm-org1-a'));
    assert.ok(everything.every((ref) => !/org1-b|org2/.test(ref)));
  });

  // Registrar holds patient:read but not immunization:read: nothing may hand it an Immunization,
  // neither $everything nor _revinclude (each returned type needs its own read permission).
  for (const url of [
    '/fhir/Patient/p-org1-a/$everything',
    '/fhir/Patient?name=Matrix&_revinclude=Immunization:patient',
  ]) {
    test(`registrar (demographics only) gets no clinical resource from ${url}`, async () => {
      const res = await h.get(url, tokens.get('registrar'));
      const types = (
        (res.json() as { entry?: Array<{ resource: { resourceType: string } }> }).entry ?? []
      ).map((e) => e.resource.resourceType);
      assert.equal(res.statusCode, 200);
      assert.ok(types.includes('Patient'), `got ${types.join(',')}`);
      assert.ok(
        types.every((t) => t === 'Patient'),
        `got ${types.join(',')}`,
      );
    });
  }

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
