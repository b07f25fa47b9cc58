import { randomUUID } from 'node:crypto';
import type {
  ImmunizationEvaluation,
  ImmunizationRecommendation,
  ImmunizationRecommendationRecommendation,
  Parameters,
} from 'fhir/r4.js';
import type { DoseEvaluation, ForecastResult, SeriesStatus, VaccineGroupForecast } from '../cdsi/index.js';
import {
  CVX_SYSTEM,
  DATE_CRITERIA,
  EVALUATION_STATUS_SYSTEM,
  LOINC_SYSTEM,
  RECOMMENDATION_STATUS_SYSTEM,
} from './codes.js';

export interface ForecastReferences {
  patientReference: string;
  immunizationReferences: Map<string, string>;
  /** CVX → short description, for displays. */
  cvxDescription(cvx: string): string | undefined;
}

/** The R4 recommendation-status code that fits a CDSi series status on a date, if any fits. */
export function recommendationStatusCode(
  status: SeriesStatus,
  group: Pick<VaccineGroupForecast, 'pastDue' | 'earliest'>,
  assessmentDate: string,
): string | undefined {
  switch (status) {
    case 'complete':
      return 'complete';
    case 'immune':
      return 'immune';
    case 'contraindicated':
      return 'contraindicated';
    case 'not complete':
      return group.pastDue && assessmentDate >= group.pastDue ? 'overdue' : 'due';
    default:
      return undefined;
  }
}

function evaluationOf(
  group: VaccineGroupForecast,
  dose: DoseEvaluation,
  refs: ForecastReferences,
  assessmentDate: string,
): ImmunizationEvaluation {
  const event = (dose.doseId && refs.immunizationReferences.get(dose.doseId)) ?? `urn:uuid:${randomUUID()}`;
  const evaluation: ImmunizationEvaluation = {
    resourceType: 'ImmunizationEvaluation',
    id: randomUUID(),
    status: 'completed',
    patient: { reference: refs.patientReference },
    date: assessmentDate,
    targetDisease: { text: group.vaccineGroup },
    immunizationEvent: { reference: event },
    doseStatus: {
      coding: [{ system: EVALUATION_STATUS_SYSTEM, code: dose.status === 'valid' ? 'valid' : 'notvalid' }],
      text: dose.status,
    },
  };
  if (dose.reason) evaluation.doseStatusReason = [{ text: dose.reason }];
  if (dose.targetDose !== undefined && dose.status === 'valid')
    evaluation.doseNumberPositiveInt = dose.targetDose;
  return evaluation;
}

function recommendationOf(
  group: VaccineGroupForecast,
  refs: ForecastReferences,
  assessmentDate: string,
): ImmunizationRecommendationRecommendation {
  const code = recommendationStatusCode(group.status, group, assessmentDate);
  const coding = group.recommendedCvx.map((cvx) => {
    const display = refs.cvxDescription(cvx);
    return { system: CVX_SYSTEM, code: cvx, ...(display ? { display } : {}) };
  });
  const recommendation: ImmunizationRecommendationRecommendation = {
    // FHIR forbids empty arrays: a complete series names no vaccine to give.
    vaccineCode: [{ ...(coding.length > 0 ? { coding } : {}), text: group.vaccineGroup }],
    forecastStatus: {
      ...(code ? { coding: [{ system: RECOMMENDATION_STATUS_SYSTEM, code }] } : {}),
      text: group.status,
    },
  };
  if (group.reason) recommendation.forecastReason = [{ text: group.reason }];
  const criteria = (['earliest', 'recommended', 'pastDue', 'latest'] as const).flatMap((key) => {
    const value = group[key];
    return value ? [{ code: { coding: [{ system: LOINC_SYSTEM, ...DATE_CRITERIA[key] }] }, value }] : [];
  });
  if (criteria.length > 0) recommendation.dateCriterion = criteria;
  if (group.targetDose !== undefined) recommendation.doseNumberPositiveInt = group.targetDose;
  const supporting = group.evaluations
    .map((e) => (e.doseId ? refs.immunizationReferences.get(e.doseId) : undefined))
    .filter((r): r is string => r !== undefined);
  if (supporting.length > 0)
    recommendation.supportingImmunization = [...new Set(supporting)].map((reference) => ({ reference }));
  return recommendation;
}

/** The ImmDS answer: one ImmunizationRecommendation (one entry per vaccine group) and the evaluations. */
export function forecastToParameters(result: ForecastResult, refs: ForecastReferences): Parameters {
  const recommendation: ImmunizationRecommendation = {
    resourceType: 'ImmunizationRecommendation',
    id: randomUUID(),
    patient: { reference: refs.patientReference },
    date: result.assessmentDate,
    authority: { display: `CDC CDSi supporting data ${result.supportingDataVersion}` },
    recommendation: result.vaccineGroups.map((g) => recommendationOf(g, refs, result.assessmentDate)),
  };
  const evaluations = result.vaccineGroups.flatMap((g) =>
    g.evaluations.map((dose) => evaluationOf(g, dose, refs, result.assessmentDate)),
  );
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'recommendation', resource: recommendation },
      ...evaluations.map((resource) => ({ name: 'evaluation', resource })),
    ],
  };
}
