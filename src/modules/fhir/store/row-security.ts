import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable, SessionSettings, Transaction } from '../../../platform/db/types.js';

const byScope = new WeakMap<PatientScope, SessionSettings>();

function joined(ids: readonly string[]): string {
  // FHIR ids and organization ids never hold a comma; one that did would widen nothing, since
  // the policy compares whole ids, but it is refused rather than split.
  for (const id of ids) if (id.includes(',')) throw new Error(`scope id "${id}" holds a comma`);
  return ids.join(',');
}

/**
 * The caller's scope as the settings the row-level security policies on the resource tables
 * read (migration fhir/0003): the same rule the store writes into its own SQL.
 */
export function rowScopeSettings(scope: PatientScope): SessionSettings {
  let settings = byScope.get(scope);
  if (settings) return settings;
  const patients =
    scope.kind === 'patients'
      ? scope.patientIds
      : scope.kind === 'organizations'
        ? scope.extraPatientIds
        : [];
  settings = {
    'iris.scope_kind': scope.kind,
    'iris.scope_patients': joined(patients),
    'iris.scope_organizations': joined(scope.kind === 'organizations' ? scope.organizationIds : []),
  };
  byScope.set(scope, settings);
  return settings;
}

/** `q` with the caller's scope in effect for every statement run through it. */
export function scopedQueryable(q: Queryable, scope: PatientScope): Queryable {
  const settings = rowScopeSettings(scope);
  return {
    query: (sql, params, options) => q.query(sql, params, { ...options, settings }),
  };
}

/** Puts the caller's scope in effect for the rest of a write transaction. */
export function useRowScope(tx: Transaction, scope: PatientScope): Promise<void> {
  return tx.useSettings(rowScopeSettings(scope));
}
