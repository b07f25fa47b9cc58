export const CVX_SYSTEM = 'http://hl7.org/fhir/sid/cvx';
export const MVX_SYSTEM = 'http://hl7.org/fhir/sid/mvx';
export const LOINC_SYSTEM = 'http://loinc.org';
export const EVALUATION_STATUS_SYSTEM =
  'http://terminology.hl7.org/CodeSystem/immunization-evaluation-dose-status';
export const RECOMMENDATION_STATUS_SYSTEM =
  'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status';

/** LOINC codes the ImmDS guide uses for the forecast dates. */
export const DATE_CRITERIA = {
  earliest: { code: '30981-5', display: 'Earliest date to give' },
  recommended: { code: '30980-7', display: 'Date vaccine due' },
  pastDue: { code: '59778-1', display: 'Date when overdue for immunization' },
  latest: { code: '59777-3', display: 'Latest date to give immunization' },
} as const;
