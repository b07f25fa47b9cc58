import { randomUUID } from 'node:crypto';
import type { Parameters } from 'fhir/r4.js';
import { getSupportingData, runForecast } from '../cdsi/index.js';
import { parseForecastParameters } from '../fhir/forecast-input.js';
import { forecastCards, type Card } from './cards.js';
import { gatherPatientView, type HookRequest } from './prefetch.js';

export const PATIENT_VIEW_SERVICE = {
  hook: 'patient-view',
  id: 'immunization-forecast',
  title: 'Immunization forecast (CDC CDSi)',
  description:
    'Vaccines due and overdue for the patient, and recorded doses that do not count, by the CDC CDSi logic and supporting data.',
  prefetch: {
    patient: 'Patient/{{context.patientId}}',
    immunizations: 'Immunization?patient={{context.patientId}}',
    conditions: 'Condition?patient={{context.patientId}}',
  },
} as const;

/** Runs the forecast for a patient-view hook call and turns it into cards. */
export async function patientViewCards(
  request: HookRequest,
  options: { allowedFhirServers: readonly string[]; today?: string },
): Promise<Card[]> {
  const data = await gatherPatientView(request, options.allowedFhirServers);
  const assessmentDate = options.today ?? new Date().toISOString().slice(0, 10);
  // One input path for both entry points: the same checks as $immds-forecast.
  const parameters: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'assessmentDate', valueDate: assessmentDate },
      { name: 'patient', resource: data.patient },
      ...data.immunizations.map((resource) => ({ name: 'immunization', resource })),
      ...data.conditions.map((resource) => ({ name: 'condition', resource })),
    ],
  };
  const parsed = parseForecastParameters(parameters, { lenient: true });
  const supporting = getSupportingData();
  const result = runForecast(parsed.input, supporting);
  const sourceLabel = `IRIS Health immunization forecast (CDC CDSi ${supporting.version})`;
  const cards = forecastCards(result, {
    patientId: request.context.patientId,
    sourceLabel,
    cvxDescription: (cvx) => supporting.cvxDescriptions.get(cvx),
  });
  if (parsed.skipped.length > 0) {
    cards.push({
      uuid: randomUUID(),
      summary: `${parsed.skipped.length} immunization record(s) could not be evaluated`,
      indicator: 'info',
      detail: parsed.skipped.map((p) => `- ${p.message}`).join('\n'),
      source: { label: sourceLabel },
    });
  }
  return cards;
}
