import { testApp, type TestApp } from '../../helpers/app.js';

export { bearer, eventually, tokenFor } from '../../helpers/users.js';

export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const FHIR_JSON = { 'content-type': 'application/fhir+json' };

/** The full app, with MFA enrolment off so test users get their permissions at first sign-in. */
export function immunizationApp(env: Record<string, string> = {}): Promise<TestApp> {
  return testApp({ IRIS_MFA_REQUIRED_ROLES: '', RATE_LIMIT_MAX: '100000', ...env });
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
