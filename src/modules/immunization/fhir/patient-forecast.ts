import type { FhirResource, Immunization, Parameters, Patient } from 'fhir/r4.js';
import { errors } from '../../../platform/http/errors.js';
import type { CallContext, FhirStore } from '../../fhir/index.js';
import { getSupportingData, runForecast, type ForecastResult } from '../cdsi/index.js';
import { parseForecastParameters } from './forecast-input.js';
import { forecastToParameters } from './forecast-output.js';

export interface PatientForecast {
  result: ForecastResult;
  /** The ImmDS answer, as `POST /fhir/$immds-forecast` gives it for the same data. */
  parameters: Parameters;
}

// Observations of a patient can be many (vitals, labs): enough for any immunity finding. The
// limit is per type; a patient's doses and conditions are far fewer.
const OBSERVATION_LIMIT = 2000;

/** Same date and id order every time, so the same records give the same stored answer. */
function byDateThenId(a: Immunization, b: Immunization): number {
  const ad = a.occurrenceDateTime ?? '';
  const bd = b.occurrenceDateTime ?? '';
  if (ad !== bd) return ad < bd ? -1 : 1;
  return (a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0;
}

/**
 * Forecasts a stored patient: reads the Patient, their Immunizations and (when the caller may
 * read clinical records) Conditions and Observations through the FHIR store, within the
 * caller's scope, so a patient outside it is "not known" (404) as on a FHIR read.
 */
export async function forecastStoredPatient(
  store: FhirStore,
  ctx: CallContext,
  patientId: string,
  assessmentDate: string,
): Promise<PatientForecast> {
  const readable = (type: string) => ctx.can?.(type, 'read') ?? true;
  const types = ['Immunization', ...['Condition', 'Observation'].filter(readable)];
  const records = await store.patientRecords(ctx, patientId, types, OBSERVATION_LIMIT);
  const patient = records.patient.resource as Patient;
  if (!patient.birthDate || !/^\d{4}-\d{2}-\d{2}$/.test(patient.birthDate)) {
    throw errors.unprocessable(`Patient/${patientId} has no full birthDate (YYYY-MM-DD) to forecast from`);
  }
  const ofType = (type: string) => records.resources.filter((r) => r.resourceType === type);
  const immunizations = (ofType('Immunization') as Immunization[]).sort(byDateThenId);
  const conditions = ofType('Condition');
  const observations = ofType('Observation');
  const param = (name: string) => (r: FhirResource) => ({ name, resource: r });
  const request: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'assessmentDate', valueDate: assessmentDate },
      { name: 'patient', resource: patient },
      ...immunizations.map(param('immunization')),
      ...(conditions as FhirResource[]).map(param('condition')),
      ...(observations as FhirResource[]).map(param('observation')),
    ],
  };
  // Lenient: one unusable stored record must not stop the forecast of the others.
  const parsed = parseForecastParameters(request, { lenient: true });
  const supporting = getSupportingData();
  const result = runForecast(parsed.input, supporting);
  const parameters = forecastToParameters(result, {
    patientReference: `Patient/${patientId}`,
    immunizationReferences: parsed.immunizationReferences,
    cvxDescription: (cvx) => supporting.cvxDescriptions.get(cvx),
  });
  return { result, parameters };
}
