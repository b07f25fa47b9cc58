import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { FHIR_JSON } from '../../platform/http/error-response.js';
import { errors } from '../../platform/http/errors.js';
import { PATIENT_VIEW_SERVICE, patientViewCards } from './cds-hooks/service.js';
import type { HookRequest } from './cds-hooks/prefetch.js';
import { getSupportingData, runForecast } from './cdsi/index.js';
import { parseForecastParameters } from './fhir/forecast-input.js';
import { forecastToParameters } from './fhir/forecast-output.js';

const hookRequestSchema = {
  type: 'object',
  required: ['hook', 'hookInstance', 'context'],
  properties: {
    hook: { type: 'string' },
    hookInstance: { type: 'string', minLength: 1 },
    fhirServer: { type: 'string' },
    fhirAuthorization: { type: 'object' },
    context: {
      type: 'object',
      required: ['patientId'],
      properties: {
        patientId: { type: 'string', minLength: 1 },
        userId: { type: 'string' },
        encounterId: { type: 'string' },
      },
    },
    prefetch: { type: 'object' },
  },
} as const;

export function registerImmunizationRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Load and validate the CDC supporting data at start-up, not inside a clinician's first request.
  getSupportingData();
  app.post(
    '/fhir/$immds-forecast',
    {
      schema: {
        tags: ['immunization'],
        summary: 'ImmDS forecast: evaluate the given doses and forecast every vaccine group (CDC CDSi)',
        description:
          'FHIR Parameters in (assessmentDate, patient, immunization*), Parameters out (recommendation, evaluation*). ' +
          'Content type application/fhir+json.',
      },
    },
    async (request, reply) => {
      const parsed = parseForecastParameters(request.body);
      const supporting = getSupportingData();
      const result = runForecast(parsed.input, supporting);
      const body = forecastToParameters(result, {
        patientReference: parsed.patientReference,
        immunizationReferences: parsed.immunizationReferences,
        cvxDescription: (cvx) => supporting.cvxDescriptions.get(cvx),
      });
      return reply.type(FHIR_JSON).send(body);
    },
  );

  app.get('/cds-services', { schema: { tags: ['cds-hooks'], summary: 'CDS Hooks discovery' } }, async () => ({
    services: [PATIENT_VIEW_SERVICE],
  }));

  app.post<{ Params: { id: string }; Body: HookRequest }>(
    '/cds-services/:id',
    {
      schema: {
        tags: ['cds-hooks'],
        summary: 'Call a CDS Hooks service (patient-view: immunizations due, overdue and not valid)',
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        body: hookRequestSchema,
      },
    },
    async (request) => {
      if (request.params.id !== PATIENT_VIEW_SERVICE.id) {
        throw errors.notFound(`No CDS service ${JSON.stringify(request.params.id)}; see GET /cds-services`);
      }
      if (request.body.hook !== PATIENT_VIEW_SERVICE.hook) {
        throw errors.badRequest(
          `Service ${PATIENT_VIEW_SERVICE.id} answers the ${PATIENT_VIEW_SERVICE.hook} hook only`,
        );
      }
      const cards = await patientViewCards(request.body, {
        allowedFhirServers: ctx.config.cdsHooksFhirServers,
      });
      return { cards };
    },
  );
}
