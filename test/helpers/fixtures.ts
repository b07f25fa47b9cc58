/** Minimal valid FHIR resources shared by tests of several modules. */

export const CVX = 'http://hl7.org/fhir/sid/cvx';

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
