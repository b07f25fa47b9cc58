import type { preHandlerAsyncHookHandler } from 'fastify';

/**
 * Which patients' records a principal may reach. Computed by the identity module from roles,
 * organization, care teams, the patient role's own record and open break-glass grants; applied
 * by every module that reads PHI, inside its SQL, so counts and paging never leak.
 */
export type PatientScope =
  | { kind: 'all' }
  | { kind: 'organizations'; organizationIds: string[]; extraPatientIds: string[] }
  | { kind: 'patients'; patientIds: string[] }
  | { kind: 'none' };

/** The authenticated caller of a request. */
export interface Principal {
  kind: 'user' | 'client';
  /** User id or OAuth client id. */
  id: string;
  roles: string[];
  /** Effective `resource:action` permissions; deny unless present. */
  permissions: ReadonlySet<string>;
  scope: PatientScope;
  sessionId?: string;
  /** When MFA was last verified in this session (for step-up checks). */
  mfaVerifiedAt?: Date;
  /** Home organization of a user or client. */
  organizationId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the identity module's authentication hook; absent on anonymous requests. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /**
     * The route accepts bearer tokens issued by others (e.g. CDS Hooks client JWTs) and checks
     * them itself: the global authentication hook leaves its Authorization header alone, and
     * the route's guards still authenticate IRIS tokens lazily.
     */
    foreignBearer?: boolean;
  }
}

/** Route guards supplied by the identity module. */
export interface AccessGuards {
  /** 401 without a valid token; 403 (audited) without every listed permission. */
  require(...permissions: string[]): preHandlerAsyncHookHandler;
  /** As `require`, and MFA verified within the last `maxAgeSeconds` (step-up). */
  requireFreshMfa(maxAgeSeconds: number, ...permissions: string[]): preHandlerAsyncHookHandler;
}

/**
 * The permission resource guarding each FHIR resource type: `<resource>:read|write|delete`.
 * Types not listed fall under `clinical`.
 */
const FHIR_PERMISSION_RESOURCE: Record<string, string> = {
  Patient: 'patient',
  RelatedPerson: 'patient',
  Person: 'patient',
  Immunization: 'immunization',
  ImmunizationEvaluation: 'immunization',
  ImmunizationRecommendation: 'immunization',
  Practitioner: 'directory',
  PractitionerRole: 'directory',
  Organization: 'directory',
  Location: 'directory',
  HealthcareService: 'directory',
  Endpoint: 'directory',
  CareTeam: 'directory',
  DocumentReference: 'document',
  Binary: 'document',
  Consent: 'consent',
  Task: 'task',
  Provenance: 'provenance',
  AuditEvent: 'audit',
  CodeSystem: 'terminology',
  ValueSet: 'terminology',
  ConceptMap: 'terminology',
  StructureDefinition: 'conformance',
  SearchParameter: 'conformance',
  OperationDefinition: 'conformance',
  CapabilityStatement: 'conformance',
};

export function fhirPermission(resourceType: string, action: 'read' | 'write' | 'delete'): string {
  return `${FHIR_PERMISSION_RESOURCE[resourceType] ?? 'clinical'}:${action}`;
}
