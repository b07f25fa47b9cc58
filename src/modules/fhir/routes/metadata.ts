import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { VERSION } from '../../../version.js';
import type { RouteDeps } from './common.js';
import { BULK_DATA_OPERATIONS } from './export.js';

const IMMDS_FORECAST = 'http://hl7.org/fhir/us/immds/OperationDefinition/immds-forecast';

/**
 * Operations with their own canonical definitions (other modules', bulk export), listed only when
 * their route is registered: at the system level, or on `resourceType`.
 */
const FOREIGN_OPERATIONS: Array<{
  name: string;
  method: 'GET' | 'POST';
  url: string;
  definition: string;
  resourceType?: string;
}> = [
  { name: 'immds-forecast', method: 'POST', url: '/fhir/$immds-forecast', definition: IMMDS_FORECAST },
  {
    name: 'immds-forecast',
    method: 'POST',
    url: '/fhir/Patient/:id/$immds-forecast',
    definition: IMMDS_FORECAST,
    resourceType: 'Patient',
  },
  { name: 'export', method: 'GET', url: '/fhir/$export', definition: BULK_DATA_OPERATIONS.system },
  {
    name: 'export',
    method: 'GET',
    url: '/fhir/Patient/$export',
    definition: BULK_DATA_OPERATIONS.patient,
    resourceType: 'Patient',
  },
  {
    name: 'export',
    method: 'GET',
    url: '/fhir/Group/:id/$export',
    definition: BULK_DATA_OPERATIONS.group,
    resourceType: 'Group',
  },
];

function statement(deps: RouteDeps): CapabilityStatement {
  const { rt, caps, app } = deps;
  const foreign = FOREIGN_OPERATIONS.filter((op) => app.hasRoute({ method: op.method, url: op.url }));
  const interactions = [...caps.type].map((code) => ({ code }));
  const resources: CapabilityStatementRestResource[] = rt.registry.types().map((type) => ({
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: interactions,
    versioning: 'versioned-update',
    readHistory: caps.type.has('vread'),
    updateCreate: caps.features.has('update-create'),
    conditionalCreate: caps.features.has('conditional-create'),
    conditionalUpdate: caps.features.has('conditional-update'),
    conditionalDelete: caps.features.has('conditional-delete') ? 'single' : 'not-supported',
    conditionalRead: 'not-supported',
    referencePolicy: ['literal', 'logical', 'local'],
    searchInclude: rt.registry
      .forType(type)
      .filter((p) => p.type === 'reference')
      .map((p) => `${type}:${p.code}`),
    searchRevInclude: [],
    searchParam: [
      { name: '_id', type: 'token' },
      { name: '_lastUpdated', type: 'date' },
      ...rt.registry
        .forType(type)
        .filter((p) => p.code !== '_id' && p.code !== '_lastUpdated')
        .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
    ],
    operation: [...caps.operations]
      .filter(([, o]) => (o.type || o.instance) && (!o.types || o.types.includes(type)))
      .map(([name]) => ({ name, definition: `http://hl7.org/fhir/OperationDefinition/Resource-${name}` }))
      .concat(
        foreign
          .filter((op) => op.resourceType === type)
          .map(({ name, definition }) => ({ name, definition })),
      ),
  }));
  const systemOps = [...caps.operations]
    .filter(([, o]) => o.system)
    .map(([name]) => ({ name, definition: `http://hl7.org/fhir/OperationDefinition/${name}` }));
  for (const op of foreign)
    if (op.resourceType === undefined) systemOps.push({ name: op.name, definition: op.definition });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'IRIS Health',
    kind: 'instance',
    software: { name: 'IRIS Health', version: VERSION },
    implementation: { description: 'IRIS Health FHIR R4 server', url: rt.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: caps.type.has('patch') ? ['application/json-patch+json'] : [],
    rest: [
      {
        mode: 'server',
        security: {
          cors: true,
          description:
            "Bearer tokens from /api/v1/auth/login or /oauth2/token; access limited to the caller's patients.",
        },
        resource: resources,
        interaction: [...caps.system].map((code) => ({ code })),
        searchParam: [
          { name: '_count', type: 'number' },
          { name: '_sort', type: 'string' },
        ],
        operation: systemOps,
      },
    ],
  };
}

/** GET [base]/metadata: a CapabilityStatement generated from what the routes registered. */
export function registerMetadata(deps: RouteDeps): void {
  let cached: CapabilityStatement | undefined;
  deps.app.get(
    '/fhir/metadata',
    { schema: { hide: true }, config: { rateLimit: false } },
    async (_request, reply) => {
      cached ??= statement(deps);
      return reply.type(FHIR_JSON).send(cached);
    },
  );
}
