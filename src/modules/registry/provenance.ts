import type { Provenance } from 'fhir/r4.js';
import type { Endpoint } from './endpoints.js';
import type { RegistryIssue, SubmissionRow, SubmissionStatus } from './submissions.js';

export const REGISTRY_STATUS_EXTENSION = 'https://iris.health/fhir/StructureDefinition/registry-status';

/**
 * The registry outcome of a dose as FHIR: a Provenance targeting the exact Immunization version,
 * carrying the status, registry, control id and acknowledgement code in an extension, so a FHIR
 * client finds it with `Provenance?target=Immunization/<id>`.
 */
export function registryProvenance(
  endpoint: Pick<Endpoint, 'id' | 'name'>,
  row: SubmissionRow,
  status: SubmissionStatus,
  ackCode: string | null,
  issues: RegistryIssue[],
  recorded: Date,
): Provenance {
  const parts = [
    { url: 'status', valueCode: status },
    { url: 'registry', valueString: endpoint.name },
    { url: 'submission', valueString: row.id },
    { url: 'controlId', valueString: row.control_id },
    { url: 'operation', valueCode: row.operation },
    ...(ackCode ? [{ url: 'ackCode', valueCode: ackCode }] : []),
    ...issues.slice(0, 20).map((issue) => ({
      url: 'issue',
      valueString: [issue.severity, issue.code, issue.location, issue.message].filter(Boolean).join(' | '),
    })),
  ];
  return {
    resourceType: 'Provenance',
    // The patient as a second target puts the Provenance in the patient's compartment, so it is
    // visible exactly to those who may see the patient's record.
    target: [
      { reference: `Immunization/${row.immunization_id}/_history/${row.immunization_version}` },
      ...(row.patient_id ? [{ reference: `Patient/${row.patient_id}` }] : []),
    ],
    recorded: recorded.toISOString(),
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
          code: row.operation === 'delete' ? 'NULLIFY' : 'UPDATE',
        },
      ],
      text: `immunization registry submission: ${status}`,
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'custodian',
            },
          ],
        },
        who: { display: endpoint.name },
      },
    ],
    extension: [{ url: REGISTRY_STATUS_EXTENSION, extension: parts }],
  };
}
