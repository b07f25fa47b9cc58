import type { Bundle, Condition, Immunization, Patient } from 'fhir/r4.js';
import { errors } from '../../../platform/http/errors.js';

export interface PatientViewData {
  patient: Patient;
  immunizations: Immunization[];
  /** Conditions, when prefetched: indications and contraindications for the forecast. */
  conditions: Condition[];
}

export interface HookRequest {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: { access_token?: string; token_type?: string };
  context: { patientId: string; userId?: string; encounterId?: string };
  prefetch?: Record<string, unknown>;
}

const FETCH_TIMEOUT_MS = 3000;
const MAX_PAGES = 20;

function entriesOf<T>(bundle: unknown, type: string): T[] {
  const entries = (bundle as Bundle | undefined)?.entry ?? [];
  return entries.map((e) => e.resource).filter((r): r is never => r?.resourceType === type) as T[];
}

async function getJson(url: string, token: string | undefined): Promise<unknown> {
  const response = await fetch(url, {
    headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    redirect: 'error',
  });
  if (!response.ok)
    throw errors.preconditionFailed(
      `The FHIR server answered ${response.status} for ${new URL(url).pathname}`,
    );
  return response.json();
}

/**
 * The patient and immunizations for a patient-view: from the prefetch when the client sent it,
 * otherwise fetched from the client's FHIR server, but only from an allow-listed one (never
 * an arbitrary URL taken from the request).
 */
export async function gatherPatientView(
  request: HookRequest,
  allowedServers: readonly string[],
): Promise<PatientViewData> {
  const prefetch = request.prefetch ?? {};
  let patient = prefetch.patient as Patient | null | undefined;
  let immunizations = prefetch.immunizations
    ? entriesOf<Immunization>(prefetch.immunizations, 'Immunization')
    : undefined;
  let conditions = prefetch.conditions ? entriesOf<Condition>(prefetch.conditions, 'Condition') : undefined;
  if (patient && immunizations) return { patient, immunizations, conditions: conditions ?? [] };

  const server = request.fhirServer?.replace(/\/+$/, '');
  if (!server || !allowedServers.some((allowed) => allowed.replace(/\/+$/, '') === server)) {
    throw errors.preconditionFailed(
      'Prefetch of patient and immunizations is required (the FHIR server is not one this service may query)',
    );
  }
  const token = request.fhirAuthorization?.access_token;
  const id = encodeURIComponent(request.context.patientId);
  patient ??= (await getJson(`${server}/Patient/${id}`, token)) as Patient;
  immunizations ??= await searchAll<Immunization>(server, 'Immunization', id, token);
  conditions ??= await searchAll<Condition>(server, 'Condition', id, token);
  if (patient?.resourceType !== 'Patient')
    throw errors.preconditionFailed('The prefetched patient is not a Patient resource');
  return { patient, immunizations, conditions };
}

/** Every `type` resource of the patient, following `next` links on the same server only. */
async function searchAll<T>(
  server: string,
  type: string,
  patientId: string,
  token: string | undefined,
): Promise<T[]> {
  const found: T[] = [];
  let next: string | undefined = `${server}/${type}?patient=${patientId}&_count=200`;
  for (let page = 0; next && page < MAX_PAGES; page++) {
    const bundle = (await getJson(next, token)) as Bundle;
    found.push(...entriesOf<T>(bundle, type));
    const link = bundle.link?.find((l) => l.relation === 'next')?.url;
    next = link && link.startsWith(`${server}/`) ? link : undefined;
  }
  return found;
}
