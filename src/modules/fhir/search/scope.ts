import type { PatientScope } from '../../../platform/auth/port.js';

/** Collects positional parameters while SQL text is built. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * The access rule as SQL over the resource row `alias`: a resource in some patient's
 * compartment is visible when one of its patients is in scope; a resource in no compartment
 * (directory, terminology) is not PHI and is left to the permission check.
 */
export function scopeSql(scope: PatientScope, alias: string, params: Params): string {
  if (scope.kind === 'all') return 'TRUE';
  const member = `SELECT 1 FROM fhir_compartment sc WHERE sc.resource_type = ${alias}.resource_type AND sc.resource_id = ${alias}.id`;
  const outside = `NOT EXISTS (${member})`;
  if (scope.kind === 'none') return outside;
  if (scope.kind === 'patients') {
    return `(${outside} OR EXISTS (${member} AND sc.patient_id = ANY(${params.add(scope.patientIds)}::text[])))`;
  }
  const orgs = params.add(scope.organizationIds);
  const extra = params.add(scope.extraPatientIds);
  // Each of the row's patients is looked up by primary key for its managing organization: an
  // \`IN (patients of these organizations)\` test would be planned as a hash of the whole organization.
  return `(${outside} OR EXISTS (SELECT 1 FROM fhir_compartment sc
    LEFT JOIN fhir_patient_organization po ON po.patient_id = sc.patient_id
    WHERE sc.resource_type = ${alias}.resource_type AND sc.resource_id = ${alias}.id
      AND (sc.patient_id = ANY(${extra}::text[]) OR po.organization_id = ANY(${orgs}::text[]))))`;
}
