import type { DayNumber, Duration } from './dates.js';

// ---- Supporting data (typed form of the CDC XML) ----

export interface AgeSpec {
  absMinAge?: Duration;
  minAge?: Duration;
  earliestRecAge?: Duration;
  latestRecAge?: Duration;
  maxAge?: Duration;
  effectiveDate?: DayNumber;
  cessationDate?: DayNumber;
}

export interface IntervalSpec {
  fromPrevious: boolean;
  fromTargetDose?: number;
  fromMostRecent?: Set<string>;
  fromRelevantObs?: string;
  absMinInt?: Duration;
  minInt?: Duration;
  earliestRecInt?: Duration;
  latestRecInt?: Duration;
  override: boolean;
  effectiveDate?: DayNumber;
  cessationDate?: DayNumber;
}

export interface VaccineSpec {
  vaccineType: string;
  cvx: string;
  beginAge?: Duration;
  endAge?: Duration;
  mvx?: string;
  forecastVaccineType: boolean;
}

export type SkipConditionType =
  | 'Age'
  | 'Interval'
  | 'Completed Series'
  | 'Vaccine Count by Age'
  | 'Vaccine Count by Date'
  | 'Vaccine Count by Date and Age';

export interface SkipCondition {
  type: SkipConditionType;
  startDate?: DayNumber;
  endDate?: DayNumber;
  beginAge?: Duration;
  endAge?: Duration;
  interval?: Duration;
  doseCount?: number;
  validOnly: boolean;
  countLogic: 'greater than' | 'equal to' | 'less than';
  vaccineTypes?: Set<string>;
  seriesGroups: string[];
}

export interface SkipSet {
  id: string;
  description: string;
  effectiveDate?: DayNumber;
  cessationDate?: DayNumber;
  conditionLogic: 'AND' | 'OR';
  conditions: SkipCondition[];
}

export type SkipContext = 'Evaluation' | 'Forecast' | 'Both';

export interface ConditionalSkip {
  context: SkipContext;
  setLogic: 'AND' | 'OR';
  sets: SkipSet[];
}

export interface SeriesDose {
  doseNumber: number;
  ages: AgeSpec[];
  intervals: IntervalSpec[];
  allowableIntervals: IntervalSpec[];
  preferableVaccines: VaccineSpec[];
  allowableVaccines: VaccineSpec[];
  inadvertentCvx: Set<string>;
  conditionalSkips: ConditionalSkip[];
  recurring: boolean;
  seasonStart?: DayNumber;
  seasonEnd?: DayNumber;
}

export interface Indication {
  observationCode: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export type SeriesType = 'Standard' | 'Risk' | 'Evaluation Only';

export interface Series {
  name: string;
  antigen: string;
  vaccineGroup: string;
  type: SeriesType;
  equivalentSeriesGroups: string[];
  requiredGenders: string[];
  defaultSeries: boolean;
  productPath: boolean;
  seriesGroup: string;
  priority: string;
  preference: number;
  minAgeToStart?: Duration;
  maxAgeToStart?: Duration;
  indications: Indication[];
  doses: SeriesDose[];
}

export interface GroupContraindication {
  observationCode: string;
  text: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export interface VaccineContraindication {
  observationCode: string;
  text: string;
  vaccines: Array<{ cvx: string; beginAge?: Duration; endAge?: Duration }>;
}

export interface Antigen {
  name: string;
  series: Series[];
  groupContraindications: GroupContraindication[];
  vaccineContraindications: VaccineContraindication[];
  /** Observation codes that are evidence of immunity. */
  immunityCodes: Set<string>;
  /** Born before this date counts as immune, unless the patient has an excluding observation. */
  immunityBirthDate?: DayNumber;
  immunityExclusions: Set<string>;
}

export interface LiveVirusConflict {
  previousCvx: string;
  currentCvx: string;
  begin: Duration;
  minEnd: Duration;
  end: Duration;
}

export interface VaccineGroup {
  name: string;
  administerFullVaccineGroup: boolean;
  antigens: string[];
}

export interface AntigenAssociation {
  antigen: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export interface ObservationInfo {
  code: string;
  title: string;
  /** Clinical codes (SNOMED, CDCPHINVS, CVX) that mean this observation. */
  codedValues: Array<{ system: string; code: string }>;
}

export interface SupportingData {
  version: string;
  antigens: Map<string, Antigen>;
  vaccineGroups: VaccineGroup[];
  cvxToAntigens: Map<string, AntigenAssociation[]>;
  cvxDescriptions: Map<string, string>;
  /** CVX codes the CDC lists as active (empty when the code set is not available). */
  activeCvx: Set<string>;
  liveVirusConflicts: LiveVirusConflict[];
  /** The same conflicts indexed by the CVX of the later (current) vaccine. */
  liveVirusByCurrent: Map<string, LiveVirusConflict[]>;
  observations: Map<string, ObservationInfo>;
}

// ---- Engine input ----

export type Gender = 'M' | 'F' | 'U';

export interface AdministeredDose {
  /** Caller's identifier; echoed in the evaluation. */
  id?: string;
  cvx: string;
  mvx?: string;
  /** YYYY-MM-DD */
  date: string;
  /** Set when the dose was sub-standard (expired, sub-potent, recalled...): it never counts. */
  subStandardReason?: string;
}

export interface PatientObservation {
  /** CDSi observation code (e.g. "055"). */
  code: string;
  /** YYYY-MM-DD, when the observation started to apply; used for "from relevant observation" intervals. */
  date?: string;
}

export interface ForecastInput {
  /** YYYY-MM-DD */
  dob: string;
  gender?: Gender;
  observations?: PatientObservation[];
  doses: AdministeredDose[];
  /** YYYY-MM-DD; defaults to today (UTC). */
  assessmentDate?: string;
  /** Restrict the work to these vaccine groups (names as in ScheduleSupportingData.xml). */
  vaccineGroups?: string[];
}

// ---- Engine output ----

export type EvaluationStatus = 'valid' | 'not valid' | 'extraneous' | 'sub-standard';

export type SeriesStatus =
  'not complete' | 'complete' | 'immune' | 'contraindicated' | 'aged out' | 'not recommended';

export interface DoseEvaluation {
  doseIndex: number;
  doseId?: string;
  cvx: string;
  date: string;
  status: EvaluationStatus;
  reason?: string;
  /** Target dose number the dose was evaluated against (1-based). */
  targetDose?: number;
}

export interface ForecastDates {
  earliest?: string;
  recommended?: string;
  pastDue?: string;
  latest?: string;
}

export interface AntigenForecast extends ForecastDates {
  antigen: string;
  seriesName?: string;
  status: SeriesStatus;
  /** Target dose number to give next (1-based); absent when no dose is needed. */
  targetDose?: number;
  reason?: string;
  evaluations: DoseEvaluation[];
  /** CVX codes recommended for the next dose. */
  recommendedCvx: string[];
}

export interface VaccineGroupForecast extends ForecastDates {
  vaccineGroup: string;
  status: SeriesStatus;
  targetDose?: number;
  reason?: string;
  antigens: AntigenForecast[];
  /** One entry per administered dose that contains an antigen of this group. */
  evaluations: DoseEvaluation[];
  recommendedCvx: string[];
}

export interface ForecastResult {
  assessmentDate: string;
  supportingDataVersion: string;
  vaccineGroups: VaccineGroupForecast[];
  /** Input positions of doses whose CVX maps to no antigen (so nothing evaluated them). */
  unmappedDoses: number[];
}
