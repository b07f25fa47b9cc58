import { authFor } from '../../../src/modules/auth/index.js';
import { testApp, type TestApp } from '../../helpers/app.js';

export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const PASSWORD = 'Correct-Horse-Battery-Staple-42';

/** The full app, with MFA enrolment off so test users get their permissions at first sign-in. */
export function immunizationApp(env: Record<string, string> = {}): Promise<TestApp> {
  return testApp({ IRIS_MFA_REQUIRED_ROLES: '', RATE_LIMIT_MAX: '100000', ...env });
}

let users = 0;

/** An access token of a new user with these roles (and organization or own patient record). */
export async function tokenFor(
  t: TestApp,
  roles: string[],
  extra: { organizationId?: string; patientId?: string } = {},
): Promise<string> {
  users += 1;
  const email = `imm-user${users}-${roles.join('-') || 'none'}@example.org`;
  await authFor(t.runtime.ctx).admin.createUser(
    {
      email,
      name: `Immunization Test User ${users}`,
      roles,
      password: PASSWORD,
      organizationId: extra.organizationId ?? null,
      patientId: extra.patientId ?? null,
    },
    { type: 'system', id: 'test' },
  );
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password: PASSWORD },
  });
  const body = res.json() as { accessToken?: string };
  if (res.statusCode !== 200 || !body.accessToken)
    throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return body.accessToken;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function immunizationResource(id: string, patientId: string, cvx: string, date: string) {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: cvx }] },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: date,
  };
}

export function patientResource(id: string, birthDate: string, organizationId = 'org1') {
  return {
    resourceType: 'Patient',
    id,
    gender: 'female',
    birthDate,
    managingOrganization: { reference: `Organization/${organizationId}` },
  };
}

/** Polls until `check` answers a value (bounded), for work done by event subscribers. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
