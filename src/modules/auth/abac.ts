import { randomUUID } from 'node:crypto';
import type { PatientScope, Principal } from '../../platform/auth/port.js';
import { errors } from '../../platform/http/errors.js';
import { auditEntry, publish, userActor, type RequestMeta } from './deps.js';
import type { RoleScope } from './rbac.js';
import type { AuthService } from './service.js';

export interface ScopeInputs {
  roleScopes: readonly RoleScope[];
  organizationIds: readonly string[];
  careTeamPatientIds: readonly string[];
  /** The Patient id linked to a user with the patient role. */
  ownPatientId: string | null;
  /** Patients opened through break-glass grants that have not expired. */
  breakGlassPatientIds: readonly string[];
}

const uniq = (values: Iterable<string>) => [...new Set(values)].sort();

/**
 * Which patients a principal reaches: organization-scoped roles reach their organizations plus
 * care-team and break-glass patients; the patient role reaches only its own record; anything else
 * reaches nobody. Deny by default: no scoped role, no patients.
 */
export function computeScope(input: ScopeInputs): PatientScope {
  if (input.roleScopes.includes('all')) return { kind: 'all' };
  const own = input.roleScopes.includes('own') && input.ownPatientId ? [input.ownPatientId] : [];
  if (input.roleScopes.includes('organization')) {
    return {
      kind: 'organizations',
      organizationIds: uniq(input.organizationIds),
      extraPatientIds: uniq([...input.careTeamPatientIds, ...input.breakGlassPatientIds, ...own]),
    };
  }
  const patients = uniq([...own, ...input.breakGlassPatientIds]);
  return patients.length > 0 ? { kind: 'patients', patientIds: patients } : { kind: 'none' };
}

/**
 * Whether `scope` reaches one patient, given the organization managing that patient. For single
 * reads; searches apply the same rule in their SQL (see {@link scopeSqlFilter}).
 */
export function scopeAllowsPatient(
  scope: PatientScope,
  patientId: string,
  managingOrganizationId?: string | null,
): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'patients':
      return scope.patientIds.includes(patientId);
    case 'organizations':
      return (
        scope.extraPatientIds.includes(patientId) ||
        (managingOrganizationId != null && scope.organizationIds.includes(managingOrganizationId))
      );
  }
}

/**
 * A SQL predicate for a table with patient-id and organization-id columns, with its parameters
 * numbered from `firstParam`, so searches filter before counting and paging.
 */
export function scopeSqlFilter(
  scope: PatientScope,
  columns: { patientId: string; organizationId: string },
  firstParam: number,
): { sql: string; params: unknown[] } {
  switch (scope.kind) {
    case 'all':
      return { sql: 'TRUE', params: [] };
    case 'none':
      return { sql: 'FALSE', params: [] };
    case 'patients':
      return { sql: `${columns.patientId} = ANY($${firstParam}::text[])`, params: [scope.patientIds] };
    case 'organizations':
      return {
        sql: `(${columns.organizationId} = ANY($${firstParam}::text[]) OR ${columns.patientId} = ANY($${firstParam + 1}::text[]))`,
        params: [scope.organizationIds, scope.extraPatientIds],
      };
  }
}

/**
 * Opens a patient outside the user's scope for a limited time, with a stated reason; always
 * audited (purpose ETREAT) and raised as an event for alerting.
 */
export async function openBreakGlass(
  auth: AuthService,
  principal: Principal,
  input: { patientId: string; reason: string; minutes?: number },
  meta: RequestMeta,
): Promise<{ grantId: string; patientId: string; expiresAt: Date }> {
  const reason = input.reason.trim();
  if (reason.length < 10)
    throw errors.unprocessable('A break-glass reason of at least 10 characters is required');
  const { breakGlassDefaultMinutes, breakGlassMaxMinutes } = auth.deps.options;
  const minutes = Math.min(input.minutes ?? breakGlassDefaultMinutes, breakGlassMaxMinutes);
  const grantId = randomUUID();
  const expiresAt = new Date(Date.now() + minutes * 60_000);
  await auth.deps.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO auth_break_glass_grants (id, user_id, session_id, patient_id, reason, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [grantId, principal.id, principal.sessionId ?? null, input.patientId, reason, expiresAt],
    );
    await auth.deps.audit.record(
      auditEntry(meta, {
        action: 'break_glass.opened',
        outcome: 'success',
        actor: userActor(principal.id),
        patientIds: [input.patientId],
        resource: { type: 'Patient', id: input.patientId },
        purposeOfUse: 'ETREAT',
        details: { reason, grantId, expiresAt: expiresAt.toISOString() },
      }),
      tx,
    );
    await publish(
      auth.deps,
      tx,
      'break_glass.opened',
      userActor(principal.id),
      { type: 'Patient', id: input.patientId },
      {
        grantId,
        userId: principal.id,
        patientId: input.patientId,
        expiresAt: expiresAt.toISOString(),
      },
      meta.requestId,
    );
  });
  await auth.sessions.forgetUsers(auth.deps.db, [principal.id]);
  return { grantId, patientId: input.patientId, expiresAt };
}
