import { randomUUID } from 'node:crypto';
import type { Actor } from '../../platform/events/port.js';
import { errors } from '../../platform/http/errors.js';
import { validateRule, type AccessRule } from './access-rules.js';
import { auditEntry, cacheKeys, publish, type RequestMeta } from './deps.js';
import {
  listRoles,
  PERMISSION,
  replaceRolePermissions,
  ROLE_NAME,
  type RoleRecord,
  type RoleScope,
} from './rbac.js';
import type { AuthService } from './service.js';
import { ruleFromRow } from './sessions.js';

/** Roles (data, deny by default) and time/network access rules; every change audited. */
export class PolicyAdmin {
  constructor(private readonly auth: AuthService) {}

  private get deps() {
    return this.auth.deps;
  }

  listRoles(name?: string): Promise<RoleRecord[]> {
    return listRoles(this.deps.db, name);
  }

  async saveRole(
    input: { name: string; description?: string; patientScope?: RoleScope; permissions: string[] },
    mode: 'create' | 'update',
    actor: Actor,
    meta: RequestMeta,
  ): Promise<RoleRecord> {
    if (!ROLE_NAME.test(input.name))
      throw errors.unprocessable('A role name is lower case letters, digits and _');
    const bad = input.permissions.filter((p) => !PERMISSION.test(p));
    if (bad.length > 0)
      throw errors.unprocessable(`Permissions must look like resource:action (bad: ${bad.join(', ')})`);
    const existing = (await listRoles(this.deps.db, input.name))[0];
    if (mode === 'create' && existing) throw errors.conflict(`Role ${input.name} exists`);
    if (mode === 'update' && !existing) throw errors.notFound(`No role ${input.name}`);
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO auth_roles (name, description, patient_scope) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET description = $2, patient_scope = $3, updated_at = now()`,
        [
          input.name,
          input.description ?? existing?.description ?? '',
          input.patientScope ?? existing?.patientScope ?? 'none',
        ],
      );
      await replaceRolePermissions(tx, input.name, input.permissions);
      await publish(
        this.deps,
        tx,
        'role.changed',
        actor,
        { type: 'Role', id: input.name },
        {
          role: input.name,
          permissions: input.permissions,
          previous: existing?.permissions ?? [],
        },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: `role.${mode}d`,
          outcome: 'success',
          actor,
          resource: { type: 'Role', id: input.name },
          details: { permissions: input.permissions },
        }),
        tx,
      );
    });
    await this.forgetRoleHolders(input.name);
    return (await listRoles(this.deps.db, input.name))[0] as RoleRecord;
  }

  async deleteRole(name: string, actor: Actor, meta: RequestMeta): Promise<void> {
    const existing = (await listRoles(this.deps.db, name))[0];
    if (!existing) throw errors.notFound(`No role ${name}`);
    if (existing.builtin) throw errors.conflict(`${name} is a built-in role; edit it instead`);
    const holders = await this.deps.db.query<{ user_id: string }>(
      'SELECT user_id FROM auth_user_roles WHERE role = $1',
      [name],
    );
    await this.deps.db.transaction(async (tx) => {
      await tx.query('DELETE FROM auth_roles WHERE name = $1', [name]);
      await publish(
        this.deps,
        tx,
        'role.changed',
        actor,
        { type: 'Role', id: name },
        { role: name, deleted: true },
        meta.requestId,
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'role.deleted',
          outcome: 'success',
          actor,
          resource: { type: 'Role', id: name },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(
      this.deps.db,
      holders.rows.map((h) => h.user_id),
    );
    await this.forgetClients();
  }

  private async forgetRoleHolders(role: string): Promise<void> {
    const holders = await this.deps.db.query<{ user_id: string }>(
      'SELECT user_id FROM auth_user_roles WHERE role = $1',
      [role],
    );
    await this.auth.sessions.forgetUsers(
      this.deps.db,
      holders.rows.map((h) => h.user_id),
    );
    await this.forgetClients();
  }

  private async forgetClients(): Promise<void> {
    const clients = await this.deps.db.query<{ id: string }>('SELECT id FROM auth_oauth_clients');
    await Promise.all(
      clients.rows.map((c) =>
        this.deps.cache.delete(cacheKeys(this.deps.options.cacheNamespace).client(c.id)),
      ),
    );
  }

  async listRules(): Promise<AccessRule[]> {
    const result = await this.deps.db.query<Parameters<typeof ruleFromRow>[0]>(
      'SELECT * FROM auth_access_rules ORDER BY created_at',
    );
    return result.rows.map(ruleFromRow);
  }

  async createRule(input: Omit<AccessRule, 'id'>, actor: Actor, meta: RequestMeta): Promise<AccessRule> {
    validateRule(input);
    const id = randomUUID();
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO auth_access_rules (id, subject_type, subject, kind, time_zone, days, start_minute, end_minute, cidrs, description)
         VALUES ($1, $2, $3, $4, $5, $6::smallint[], $7, $8, $9::text[], $10)`,
        [
          id,
          input.subjectType,
          input.subject,
          input.kind,
          input.kind === 'hours' ? input.timeZone : null,
          input.kind === 'hours' ? input.days : null,
          input.kind === 'hours' ? input.startMinute : null,
          input.kind === 'hours' ? input.endMinute : null,
          input.kind === 'network' ? input.cidrs : null,
          input.description ?? '',
        ],
      );
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'access_rule.created',
          outcome: 'success',
          actor,
          resource: { type: 'AccessRule', id },
          details: { kind: input.kind, subjectType: input.subjectType, subject: input.subject },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, 'all');
    return (await this.listRules()).find((r) => r.id === id) as AccessRule;
  }

  async deleteRule(id: string, actor: Actor, meta: RequestMeta): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const result = await tx.query('DELETE FROM auth_access_rules WHERE id = $1', [id]);
      if (result.rowCount === 0) throw errors.notFound(`No access rule ${id}`);
      await this.deps.audit.record(
        auditEntry(meta, {
          action: 'access_rule.deleted',
          outcome: 'success',
          actor,
          resource: { type: 'AccessRule', id },
        }),
        tx,
      );
    });
    await this.auth.sessions.forgetUsers(this.deps.db, 'all');
  }
}
