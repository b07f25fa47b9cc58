import type { Queryable } from '../../platform/db/types.js';

export const BUILTIN_ROLES = [
  'system_admin',
  'security_officer',
  'compliance_officer',
  'physician',
  'nurse',
  'pharmacist',
  'registrar',
  'analyst',
  'integration',
  'patient',
] as const;

export type RoleScope = 'all' | 'organization' | 'own' | 'none';

export const ROLE_NAME = /^[a-z][a-z0-9_]{1,62}$/;
/** `resource:action`, lower case, e.g. `immunization:write`. */
export const PERMISSION = /^[a-z][a-z_]*:[a-z][a-z_]*$/;

export interface RoleRecord {
  name: string;
  description: string;
  patientScope: RoleScope;
  builtin: boolean;
  permissions: string[];
}

export interface EffectiveAccess {
  /** Roles that exist; unknown names are dropped (they grant nothing). */
  roles: string[];
  permissions: string[];
  scopes: RoleScope[];
}

/**
 * The union of the permissions of the named roles that exist. Deny by default: a role that is
 * not in the catalogue, or a permission that is not granted, contributes nothing.
 */
export async function effectiveAccess(q: Queryable, roleNames: readonly string[]): Promise<EffectiveAccess> {
  const names = [...new Set(roleNames.filter((r) => ROLE_NAME.test(r)))];
  if (names.length === 0) return { roles: [], permissions: [], scopes: [] };
  const roles = await q.query<{ name: string; patient_scope: RoleScope }>(
    'SELECT name, patient_scope FROM auth_roles WHERE name = ANY($1::text[]) ORDER BY name',
    [names],
  );
  const perms = await q.query<{ permission: string }>(
    'SELECT DISTINCT permission FROM auth_role_permissions WHERE role = ANY($1::text[]) ORDER BY permission',
    [roles.rows.map((r) => r.name)],
  );
  return {
    roles: roles.rows.map((r) => r.name),
    permissions: perms.rows.map((p) => p.permission).filter((p) => PERMISSION.test(p)),
    scopes: [...new Set(roles.rows.map((r) => r.patient_scope))],
  };
}

export async function userRoles(q: Queryable, userId: string): Promise<string[]> {
  const result = await q.query<{ role: string }>(
    'SELECT role FROM auth_user_roles WHERE user_id = $1 ORDER BY role',
    [userId],
  );
  return result.rows.map((r) => r.role);
}

export async function listRoles(q: Queryable, name?: string): Promise<RoleRecord[]> {
  const result = await q.query<{
    name: string;
    description: string;
    patient_scope: RoleScope;
    builtin: boolean;
    permissions: string[] | null;
  }>(
    `SELECT r.name, r.description, r.patient_scope, r.builtin,
            array_remove(array_agg(p.permission ORDER BY p.permission), NULL) AS permissions
       FROM auth_roles r LEFT JOIN auth_role_permissions p ON p.role = r.name
      WHERE $1::text IS NULL OR r.name = $1
      GROUP BY r.name ORDER BY r.name`,
    [name ?? null],
  );
  return result.rows.map((r) => ({
    name: r.name,
    description: r.description,
    patientScope: r.patient_scope,
    builtin: r.builtin,
    permissions: r.permissions ?? [],
  }));
}

export async function replaceRolePermissions(
  q: Queryable,
  role: string,
  permissions: string[],
): Promise<void> {
  await q.query('DELETE FROM auth_role_permissions WHERE role = $1', [role]);
  if (permissions.length > 0) {
    await q.query(
      'INSERT INTO auth_role_permissions (role, permission) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
      [role, [...new Set(permissions)]],
    );
  }
}
