import type { AuditEntryView } from './query.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const ACTION_SYSTEM = 'urn:iris:audit-action';

interface Coding {
  system: string;
  code: string;
  display?: string;
}

/** AuditEvent.type for an action: FHIR REST, or the DICOM audit event it corresponds to. */
export function eventType(action: string): Coding {
  if (action.startsWith('fhir.'))
    return { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' };
  if (/^(auth|user|session|mfa)\./.test(action))
    return { system: DCM, code: '110114', display: 'User Authentication' };
  if (action.startsWith('role.')) return { system: DCM, code: '110136', display: 'Security Roles Changed' };
  if (action.startsWith('break_glass.') || action.startsWith('alert.'))
    return { system: DCM, code: '110113', display: 'Security Alert' };
  if (action.endsWith('.export') || action.startsWith('export.'))
    return { system: DCM, code: '110106', display: 'Export' };
  if (action.startsWith('registry.'))
    return { system: DCM, code: '110104', display: 'DICOM Instances Transferred' };
  return { system: DCM, code: '110100', display: 'Application Activity' };
}

/** AuditEvent.action: C, R, U, D or E. */
export function eventAction(action: string): 'C' | 'R' | 'U' | 'D' | 'E' {
  const verb = action.slice(action.lastIndexOf('.') + 1);
  if (['create', 'created'].includes(verb)) return 'C';
  if (['read', 'vread', 'search', 'history', 'accessed', '$everything', 'everything'].includes(verb))
    return 'R';
  if (['update', 'updated', 'patch', 'changed'].includes(verb)) return 'U';
  if (['delete', 'deleted'].includes(verb)) return 'D';
  return 'E';
}

const OUTCOME = { success: '0', denied: '4', failure: '8' } as const;

/** Maps one chained entry to a FHIR R4 AuditEvent. Only ids and codes: the log holds no PHI values. */
export function toAuditEvent(entry: AuditEntryView): Record<string, unknown> {
  const subtype: Coding[] = [{ system: ACTION_SYSTEM, code: entry.action }];
  const verb = entry.action.slice(entry.action.lastIndexOf('.') + 1);
  if (entry.action.startsWith('fhir.')) subtype.push({ system: RESTFUL_INTERACTION, code: verb });
  const entities: Array<Record<string, unknown>> = entry.patientIds.map((id) => ({
    what: { reference: `Patient/${id}` },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
    role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
  }));
  if (entry.resource) {
    const r = entry.resource;
    const ref = r.id ? `${r.type}/${r.id}${r.versionId ? `/_history/${r.versionId}` : ''}` : undefined;
    entities.push({
      ...(ref ? { what: { reference: ref } } : { what: { display: r.type } }),
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
        code: '2',
        display: 'System Object',
      },
      ...(r.previousVersionId
        ? { detail: [{ type: 'previousVersionId', valueString: r.previousVersionId }] }
        : {}),
    });
  }
  const agent: Record<string, unknown> = {
    type: {
      coding: [
        entry.actor?.type === 'client'
          ? { system: DCM, code: '110150', display: 'Application' }
          : {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
              code: 'IRCP',
              display: 'information recipient',
            },
      ],
    },
    who: entry.actor
      ? { identifier: { system: `urn:iris:${entry.actor.type}`, value: entry.actor.id } }
      : { display: 'unauthenticated' },
    requestor: true,
    ...(entry.sourceIp ? { network: { address: entry.sourceIp, type: '2' } } : {}),
    ...(entry.purposeOfUse
      ? {
          purposeOfUse: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: entry.purposeOfUse },
              ],
            },
          ],
        }
      : {}),
  };
  return {
    resourceType: 'AuditEvent',
    id: String(entry.seq),
    meta: { lastUpdated: entry.recordedAt },
    type: eventType(entry.action),
    subtype,
    action: eventAction(entry.action),
    period: { start: entry.time, end: entry.time },
    recorded: entry.recordedAt,
    outcome: OUTCOME[entry.outcome],
    ...(entry.outcome !== 'success' ? { outcomeDesc: entry.outcome } : {}),
    ...(entry.purposeOfUse
      ? {
          purposeOfEvent: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: entry.purposeOfUse },
              ],
            },
          ],
        }
      : {}),
    agent: [agent],
    source: {
      observer: { display: 'IRIS Health' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    ...(entities.length > 0 ? { entity: entities } : {}),
    extension: [
      { url: 'urn:iris:audit:seq', valueString: String(entry.seq) },
      { url: 'urn:iris:audit:hash', valueString: entry.hash },
      ...(entry.requestId ? [{ url: 'urn:iris:audit:request-id', valueString: entry.requestId }] : []),
    ],
  };
}
