import { testApp, type TestApp } from '../../helpers/app.js';

export { bearer, eventually, tokenFor } from '../../helpers/users.js';

export { CVX, immunizationResource, patientResource } from '../../helpers/fixtures.js';
export const FHIR_JSON = { 'content-type': 'application/fhir+json' };

/** The full app, with MFA enrolment off so test users get their permissions at first sign-in. */
export function immunizationApp(env: Record<string, string> = {}): Promise<TestApp> {
  return testApp({ IRIS_MFA_REQUIRED_ROLES: '', RATE_LIMIT_MAX: '100000', ...env });
}
