import type { ImmunizationRecommendation } from 'fhir/r4.js';
import { v5 as uuidv5 } from 'uuid';
import type { AppContext } from '../../../platform/context.js';
import { IrisError } from '../../../platform/http/errors.js';
import { fhirStore, SYSTEM_CONTEXT, type WriteResult } from '../../fhir/index.js';
import { forecastStoredPatient } from '../fhir/patient-forecast.js';

// A fixed namespace so the same patient always maps to the same recommendation id.
const RECOMMENDATION_NAMESPACE = '5b0f7c4e-2f43-4c1e-9a52-8d6f1c7a9e30';
const PREFIX = 'immrec-';
const MAX_FHIR_ID = 64;

/** The id of a patient's one stored ImmunizationRecommendation: readable when it fits FHIR's 64 characters. */
export function recommendationId(patientId: string): string {
  const readable = `${PREFIX}${patientId}`;
  return readable.length <= MAX_FHIR_ID ? readable : uuidv5(patientId, RECOMMENDATION_NAMESPACE);
}

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * Recomputes a patient's forecast as of `assessmentDate` and stores it as their one
 * ImmunizationRecommendation (update-as-create; the store keeps the current version when
 * nothing changed). Answers null, storing nothing, when the patient is gone or has no full
 * birth date.
 */
export async function refreshRecommendation(
  ctx: AppContext,
  patientId: string,
  assessmentDate: string = todayUtc(),
): Promise<WriteResult | null> {
  const store = fhirStore(ctx);
  let recommendation: ImmunizationRecommendation;
  try {
    const { parameters } = await forecastStoredPatient(store, SYSTEM_CONTEXT, patientId, assessmentDate);
    recommendation = parameters.parameter?.[0]?.resource as ImmunizationRecommendation;
  } catch (error) {
    if (error instanceof IrisError && [404, 410, 422].includes(error.statusCode)) return null;
    throw error;
  }
  const stored: ImmunizationRecommendation = { ...recommendation, id: recommendationId(patientId) };
  // Read outside the transaction: the embedded database runs one transaction at a time.
  // Trusted: the forecast builds it, and its tests validate what it builds.
  return ctx.db.transaction((tx) => store.update(SYSTEM_CONTEXT, tx, stored, {}, { trusted: true }));
}
