import type { Immunization, Patient } from 'fhir/r4.js';
import { testApp, type TestApp } from '../../helpers/app.js';
import { bearer } from '../../helpers/users.js';

export { bearer, eventually, tokenFor } from '../../helpers/users.js';

export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const FHIR_JSON = { 'content-type': 'application/fhir+json' };

/** The full app with short registry retry and breaker timings (an outage compressed in time). */
export function registryApp(env: Record<string, string> = {}): Promise<TestApp> {
  return testApp({
    IRIS_MFA_REQUIRED_ROLES: '',
    RATE_LIMIT_MAX: '100000',
    REGISTRY_RETRY_BASE_MS: '100',
    REGISTRY_RETRY_MAX_MS: '400',
    REGISTRY_BREAKER_FAILURES: '3',
    REGISTRY_BREAKER_HALF_OPEN_MS: '300',
    REGISTRY_POLL_MS: '100',
    ...env,
  });
}

export function patientResource(id: string, family = 'Registry', given = 'Rita'): Patient {
  return {
    resourceType: 'Patient',
    id,
    name: [{ family, given: [given] }],
    gender: 'female',
    birthDate: '2020-03-04',
    managingOrganization: { reference: 'Organization/org1' },
    address: [{ line: ['1 Main St'], city: 'Springfield', state: 'IL', postalCode: '62701' }],
  };
}

export function doseResource(
  id: string,
  patientId: string,
  cvx: string,
  date: string,
  lot = 'LOT1',
): Immunization {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: cvx }] },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: date,
    primarySource: true,
    lotNumber: lot,
    programEligibility: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0064', code: 'V02' }] },
    ],
    fundingSource: { coding: [{ system: 'urn:oid:2.16.840.1.114222.4.5.274', code: 'VXC1' }] },
  };
}

/** Stores resources through the FHIR API (PUT: ids chosen by the test). */
export async function put(t: TestApp, token: string, resource: Patient | Immunization): Promise<void> {
  const res = await t.app.inject({
    method: 'PUT',
    url: `/fhir/${resource.resourceType}/${resource.id}`,
    headers: { ...FHIR_JSON, ...bearer(token) },
    payload: resource,
  });
  if (res.statusCode >= 300) throw new Error(`PUT ${resource.resourceType}: ${res.statusCode} ${res.body}`);
}
