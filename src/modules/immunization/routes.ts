import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { FHIR_JSON } from '../../platform/http/error-response.js';
import { errors } from '../../platform/http/errors.js';
import { fhirStore, requestCallContext } from '../fhir/index.js';
import { CdsClientVerifier } from './cds-hooks/client-jwt.js';
import { cdsServiceGuard } from './cds-hooks/guard.js';
import { PATIENT_VIEW_SERVICE, patientViewCards } from './cds-hooks/service.js';
import type { HookRequest } from './cds-hooks/prefetch.js';
import { getSupportingData, runForecast } from './cdsi/index.js';
import { parseForecastParameters } from './fhir/forecast-input.js';
import { forecastToParameters } from './fhir/forecast-output.js';
import { instanceAssessmentDate } from './fhir/instance-input.js';
import { forecastStoredPatient } from './fhir/patient-forecast.js';
import { todayUtc } from './store/recommendation.js';

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
  // Forecasting from caller-supplied data reads no stored record, but it is clinical work all the same.
  const readImmunizations = ctx.access.require('immunization:read');
  app.post(
    '/fhir/$immds-forecast',
    {
      preHandler: readImmunizations,
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

  const patientForecast = async (
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
  ) => {
    const assessmentDate = instanceAssessmentDate(request.body, request.query, todayUtc());
    const { parameters } = await forecastStoredPatient(
      fhirStore(ctx),
      requestCallContext(request),
      request.params.id,
      assessmentDate,
    );
    return reply.type(FHIR_JSON).send(parameters);
  };
  const instanceRoute = {
    // The patient, their immunizations, and their conditions and observations when the caller may read them.
    preHandler: ctx.access.require('patient:read', 'immunization:read'),
    schema: {
      tags: ['immunization'],
      summary: 'ImmDS forecast of a stored patient from their stored records (CDC CDSi)',
      description:
        'Reads the patient, their Immunizations, Conditions and Observations within your access. ' +
        'Optional assessmentDate (query parameter or Parameters body); today (UTC) by default.',
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    },
  };
  app.get<{ Params: { id: string } }>('/fhir/Patient/:id/$immds-forecast', instanceRoute, patientForecast);
  app.post<{ Params: { id: string } }>('/fhir/Patient/:id/$immds-forecast', instanceRoute, patientForecast);

  // Discovery stays public: CDS clients read it before any trust is set up.
  app.get('/cds-services', { schema: { tags: ['cds-hooks'], summary: 'CDS Hooks discovery' } }, async () => ({
    services: [PATIENT_VIEW_SERVICE],
  }));

  const verifier = new CdsClientVerifier({ clients: ctx.config.cdsHooksClients, cache: ctx.cache });
  const publicBase = ctx.config.http.publicUrl.replace(/\/+$/, '');

  app.post<{ Params: { id: string }; Body: HookRequest }>(
    '/cds-services/:id',
    {
      config: { foreignBearer: true },
      preHandler: cdsServiceGuard(
        ctx.access,
        verifier,
        (request) => `${publicBase}/cds-services/${(request.params as { id: string }).id}`,
      ),
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
