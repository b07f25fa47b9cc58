import type { FastifyInstance } from 'fastify';
import { errors } from '../../../platform/http/errors.js';
import type { FhirAccess } from '../http/request.js';
import type { FhirRuntime } from '../store/context.js';

export type TypeInteraction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'create'
  | 'search-type';
export type SystemInteraction = 'transaction' | 'batch' | 'search-system' | 'history-system';

/** What the registered routes serve: the CapabilityStatement is generated from it. */
export class Capabilities {
  readonly type = new Set<TypeInteraction>();
  readonly system = new Set<SystemInteraction>();
  readonly features = new Set<
    'conditional-create' | 'conditional-update' | 'conditional-delete' | 'if-match' | 'update-create'
  >();
  /** Operation name (without `$`) → the levels it is served at. */
  readonly operations = new Map<
    string,
    { system?: boolean; type?: boolean; instance?: boolean; types?: string[] }
  >();
}

/** What every FHIR route file is given. */
export interface RouteDeps {
  app: FastifyInstance;
  rt: FhirRuntime;
  access: FhirAccess;
  caps: Capabilities;
}

export interface TypeParams {
  type: string;
}
export interface InstanceParams extends TypeParams {
  id: string;
}

/** 404 for a path segment that is not an R4 resource type. */
export function assertType(rt: FhirRuntime, type: string): void {
  if (!rt.registry.hasType(type)) throw errors.notFound(`${type} is not a FHIR R4 resource type served here`);
}

export function locationOf(rt: FhirRuntime, type: string, id: string, versionId: string): string {
  return `${rt.baseUrl}/${type}/${id}/_history/${versionId}`;
}
