import type { PatientScope } from '../../../platform/auth/port.js';
import type { AuditRecord, AuditTrail } from '../../../platform/audit/port.js';
import type { Keyring } from '../../../platform/crypto/keyring.js';
import type { Database, Queryable } from '../../../platform/db/types.js';
import type { Actor, EventPublisher } from '../../../platform/events/port.js';
import type { Logger } from '../../../platform/observability/logger.js';
import { BlindIndex, ResourceCipher } from '../crypto.js';
import { searchParameters, type SearchParameterRegistry } from '../definitions/search-parameters.js';
import type { ValidationOptions } from '../validation.js';
import { StoreStatistics } from './statistics.js';

/** What the FHIR store needs from the platform and from its neighbours. */
export interface FhirDeps {
  db: Database;
  keyring: Keyring;
  /** Absolute base of the FHIR API, e.g. `https://iris.example/fhir` (Location, fullUrl, links). */
  baseUrl: string;
  events?: EventPublisher;
  audit?: AuditTrail;
  validation?: Partial<ValidationOptions>;
  /** Reports failures of background upkeep (statistics refresh). */
  logger?: Logger;
}

/** Who is calling and what they may see; built per request by the routes. */
export interface CallContext {
  actor: Actor | null;
  scope: PatientScope;
  requestId?: string;
  sourceIp?: string;
  userAgent?: string;
  /** Per-type permission check for multi-type requests (Bundles); absent: no restriction. */
  can?: (resourceType: string, action: 'read' | 'write' | 'delete') => boolean;
}

export const SYSTEM_CONTEXT: CallContext = { actor: { type: 'system', id: 'iris' }, scope: { kind: 'all' } };

/** The deps with their derived services, built once. */
export interface FhirRuntime extends FhirDeps {
  cipher: ResourceCipher;
  blind: BlindIndex;
  registry: SearchParameterRegistry;
  validationOptions: ValidationOptions;
  statistics: StoreStatistics;
}

export function fhirRuntime(deps: FhirDeps): FhirRuntime {
  return {
    ...deps,
    baseUrl: deps.baseUrl.replace(/\/+$/, ''),
    cipher: new ResourceCipher(deps.keyring),
    blind: new BlindIndex(deps.keyring),
    registry: searchParameters(),
    validationOptions: { requireCvx: true, ...deps.validation },
    statistics: new StoreStatistics(deps.db, (error) =>
      deps.logger?.warn({ err: error }, 'FHIR store statistics refresh failed'),
    ),
  };
}

/** An audit entry completed with the caller's identity and request. */
export function auditEntry(
  ctx: CallContext,
  entry: Omit<AuditRecord, 'actor' | 'requestId' | 'sourceIp' | 'userAgent'>,
): AuditRecord {
  return {
    ...entry,
    actor: ctx.actor,
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    ...(ctx.sourceIp ? { sourceIp: ctx.sourceIp } : {}),
    ...(ctx.userAgent ? { userAgent: ctx.userAgent } : {}),
  };
}

/** Writes an audit entry; reads are audited on their own, writes inside their transaction. */
export async function audit(
  rt: FhirRuntime,
  ctx: CallContext,
  entry: Omit<AuditRecord, 'actor' | 'requestId' | 'sourceIp' | 'userAgent'>,
  tx?: Queryable,
): Promise<void> {
  if (!rt.audit) return;
  await rt.audit.record(auditEntry(ctx, entry), tx);
}

/** `immunization.recorded` for a new Immunization, else `<kebab-type>.created|updated|deleted`. */
export function eventType(resourceType: string, change: 'created' | 'updated' | 'deleted'): string {
  const name = resourceType.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  if (resourceType === 'Immunization' && change === 'created') return 'immunization.recorded';
  return `${name}.${change}`;
}
