import { fileURLToPath } from 'node:url';
import type { Immunization, Patient } from 'fhir/r4.js';
import { createClientAsync } from 'soap';
import { buildVxu } from '../../../src/modules/registry/hl7/index.js';
import type { RegistrySim } from '../../../tools/registry-sim/index.js';
import { testApp, type TestApp } from '../../helpers/app.js';
import { bearer, eventually } from '../../helpers/users.js';

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

const WSDL = fileURLToPath(new URL('../../../reference-data/registry/cdc-iis.wsdl', import.meta.url));

/** The SOAP account the e2e tests give the simulator (`credentials`) and the endpoint. */
export const SIM_SOAP = { username: 'iris', password: 'sim-password-do-not-leak', facilityId: 'F1' };

/** Configures the simulator as a CDC SOAP registry endpoint (as an administrator); returns its id. */
export async function addSoapEndpoint(
  t: TestApp,
  adminToken: string,
  sim: RegistrySim,
  name = 'State IIS',
): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/registry/endpoints',
    headers: bearer(adminToken),
    payload: {
      name,
      transport: 'cdc-soap',
      url: sim.soapUrl,
      sender: { application: 'IRIS', facility: 'CLINIC1' },
      receiver: { application: 'IIS', facility: 'STATE' },
      credentials: { kind: 'soap', ...SIM_SOAP },
      timeoutMs: 2000,
      maxAttempts: 8,
    },
  });
  if (res.statusCode !== 201) throw new Error(`endpoint: ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}

export interface SubmissionView {
  id: string;
  status: string;
  operation: string;
  controlId: string;
  attempts: number;
  workItem: string | null;
  registryErrors: Array<{ severity: string; code?: string }>;
  attemptLog: Array<{ outcome: string }>;
}

/** Waits until a dose has at least `count` submissions, none of them still in flight. */
export function settledSubmissions(
  t: TestApp,
  token: string,
  immunizationId: string,
  count = 1,
): Promise<SubmissionView[]> {
  return eventually(async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/registry/immunizations/${immunizationId}/submissions`,
      headers: bearer(token),
    });
    if (res.statusCode !== 200) throw new Error(`submissions: ${res.statusCode} ${res.body}`);
    const list = res.json() as SubmissionView[];
    return list.length >= count && list.every((s) => !['pending', 'sent'].includes(s.status))
      ? list
      : undefined;
  }, `submissions of ${immunizationId}`);
}

/**
 * Another provider (OTHER/PEDS2) reports a dose of this patient straight to the simulator over
 * SOAP, as given elsewhere; returns the registry's ACK.
 */
export async function reportElsewhere(
  sim: RegistrySim,
  patient: Patient,
  dose: Immunization,
  controlId: string,
): Promise<string> {
  const client = await createClientAsync(WSDL, { endpoint: sim.soapUrl, forceSoap12Headers: true });
  const message = buildVxu({
    patient: {
      ...patient,
      identifier: [
        {
          system: 'https://iris.health/fhir/sid/patient',
          value: patient.id,
          assigner: { display: 'CLINIC1' },
        },
      ],
    },
    immunizations: [{ ...dose, primarySource: false }],
    sender: { application: 'OTHER', facility: 'PEDS2' },
    receiver: { application: 'IIS', facility: 'STATE' },
    controlId,
    timestamp: new Date(),
  });
  const [answer] = (await client.submitSingleMessageAsync({
    username: SIM_SOAP.username,
    password: SIM_SOAP.password,
    facilityID: SIM_SOAP.facilityId,
    hl7Message: message,
  })) as [{ return: string }];
  return answer.return;
}
