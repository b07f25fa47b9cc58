import { randomUUID } from 'node:crypto';
import type {
  Condition,
  Immunization,
  Observation,
  Parameters,
  ParametersParameter,
  Patient,
} from 'fhir/r4.js';
import { errors, type IssueDetail } from '../../../platform/http/errors.js';
import { observationCodesFor } from '../cdsi/index.js';
import type { AdministeredDose, ForecastInput, Gender, PatientObservation } from '../cdsi/index.js';
import { CVX_SYSTEM, MVX_SYSTEM } from './codes.js';

const DATE = /^\d{4}-\d{2}-\d{2}/;

/** What the operation was asked, plus the references to put in its answer. */
export interface ParsedForecastRequest {
  input: ForecastInput;
  patientReference: string;
  /** Reference of each input Immunization, by the dose id given to the engine. */
  immunizationReferences: Map<string, string>;
  /** Immunizations left out in lenient mode, with why. */
  skipped: IssueDetail[];
}

function location(index: number, path: string): string {
  return `Parameters.parameter[${index}]${path}`;
}

function genderOf(patient: Patient): Gender {
  if (patient.gender === 'male') return 'M';
  if (patient.gender === 'female') return 'F';
  return 'U';
}

/** The CVX code and MVX of an Immunization, or the problems that stop it from being used. */
function doseOf(immunization: Immunization, at: number, problems: IssueDetail[]): AdministeredDose | null {
  const cvx = immunization.vaccineCode?.coding?.find((c) => c.system === CVX_SYSTEM)?.code;
  if (!cvx) {
    problems.push({
      location: location(at, '.resource.vaccineCode'),
      message: `Immunization needs a vaccineCode coding with system ${CVX_SYSTEM}`,
    });
    return null;
  }
  const date = immunization.occurrenceDateTime;
  if (!date || !DATE.test(date)) {
    problems.push({
      location: location(at, '.resource.occurrenceDateTime'),
      message: 'Immunization needs an occurrenceDateTime with at least a full date (YYYY-MM-DD)',
    });
    return null;
  }
  const mvx =
    immunization.manufacturer?.identifier?.system === MVX_SYSTEM
      ? immunization.manufacturer.identifier.value
      : undefined;
  return { cvx, date: date.slice(0, 10), ...(mvx ? { mvx } : {}) };
}

const INACTIVE_CONDITION = new Set(['inactive', 'resolved', 'remission']);
const UNUSABLE_VERIFICATION = new Set(['refuted', 'entered-in-error']);
const USABLE_OBSERVATION = new Set(['final', 'amended', 'corrected', 'preliminary']);

/** CDSi observations (indications, contraindications, immunity) a Condition stands for. */
function conditionObservations(condition: Condition): PatientObservation[] {
  const clinical = condition.clinicalStatus?.coding?.[0]?.code;
  const verification = condition.verificationStatus?.coding?.[0]?.code;
  if (
    (clinical && INACTIVE_CONDITION.has(clinical)) ||
    (verification && UNUSABLE_VERIFICATION.has(verification))
  ) {
    return [];
  }
  const date = condition.onsetDateTime ?? condition.recordedDate;
  return observationCodesFor(condition.code?.coding ?? []).map((code) => ({
    code,
    ...(date && DATE.test(date) ? { date: date.slice(0, 10) } : {}),
  }));
}

/** An Observation may carry the meaning in its code (a finding) or its value (a coded result). */
function observationObservations(observation: Observation): PatientObservation[] {
  if (!USABLE_OBSERVATION.has(observation.status)) return [];
  const codings = [...(observation.code?.coding ?? []), ...(observation.valueCodeableConcept?.coding ?? [])];
  const date = observation.effectiveDateTime ?? observation.issued;
  return observationCodesFor(codings).map((code) => ({
    code,
    ...(date && DATE.test(date) ? { date: date.slice(0, 10) } : {}),
  }));
}

/**
 * Reads the ImmDS forecast Parameters: `assessmentDate` (1..1), `patient` (1..1),
 * `immunization` (0..*), and beyond the guide `condition` and `observation` (0..*), mapped to
 * CDSi observations through the coded values in the supporting data. Doses not given (status
 * other than completed) do not count.
 * Every problem is reported at once, with its location.
 */
export function parseForecastParameters(
  body: unknown,
  options: { lenient?: boolean } = {},
): ParsedForecastRequest {
  const parameters = body as Parameters;
  if (!parameters || typeof parameters !== 'object' || parameters.resourceType !== 'Parameters') {
    throw errors.badRequest('The body must be a FHIR Parameters resource', [
      { location: 'Parameters', message: 'resourceType must be Parameters' },
    ]);
  }
  const list: ParametersParameter[] = Array.isArray(parameters.parameter) ? parameters.parameter : [];
  const problems: IssueDetail[] = [];
  // Lenient (decision support on an EHR's data): an unusable dose is left out and reported,
  // not a reason to answer nothing.
  const doseProblems: IssueDetail[] = [];
  let assessmentDate: string | undefined;
  let patient: Patient | undefined;
  const doses: AdministeredDose[] = [];
  const observations: PatientObservation[] = [];
  const immunizationReferences = new Map<string, string>();

  list.forEach((param, index) => {
    switch (param.name) {
      case 'assessmentDate': {
        const value = param.valueDate ?? param.valueDateTime?.slice(0, 10);
        if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
          problems.push({
            location: location(index, '.valueDate'),
            message: 'assessmentDate must be a full date (YYYY-MM-DD)',
          });
        } else if (assessmentDate) {
          problems.push({ location: location(index, ''), message: 'assessmentDate may be given once' });
        } else assessmentDate = value;
        break;
      }
      case 'patient': {
        const resource = param.resource as Patient | undefined;
        if (resource?.resourceType !== 'Patient') {
          problems.push({
            location: location(index, '.resource'),
            message: 'patient must carry a Patient resource',
          });
        } else if (patient) {
          problems.push({ location: location(index, ''), message: 'patient may be given once' });
        } else patient = resource;
        break;
      }
      case 'immunization': {
        const resource = param.resource as Immunization | undefined;
        if (resource?.resourceType !== 'Immunization') {
          problems.push({
            location: location(index, '.resource'),
            message: 'immunization must carry an Immunization resource',
          });
          break;
        }
        if (resource.status !== 'completed') break;
        const dose = doseOf(resource, index, options.lenient ? doseProblems : problems);
        if (dose) {
          const id = resource.id ?? `input-${index}`;
          dose.id = id;
          doses.push(dose);
          immunizationReferences.set(
            id,
            resource.id ? `Immunization/${resource.id}` : `urn:uuid:${randomUUID()}`,
          );
        }
        break;
      }
      case 'condition':
      case 'observation': {
        const expected = param.name === 'condition' ? 'Condition' : 'Observation';
        const resource = param.resource as Condition | Observation | undefined;
        if (resource?.resourceType !== expected) {
          problems.push({
            location: location(index, '.resource'),
            message: `${param.name} must carry a ${expected} resource`,
          });
        } else {
          observations.push(
            ...(resource.resourceType === 'Condition'
              ? conditionObservations(resource)
              : observationObservations(resource)),
          );
        }
        break;
      }
      default:
        problems.push({
          location: location(index, '.name'),
          message: `unknown parameter ${JSON.stringify(param.name)}`,
        });
    }
  });

  if (!assessmentDate) problems.push({ location: 'Parameters', message: 'assessmentDate is required' });
  if (!patient) problems.push({ location: 'Parameters', message: 'patient is required' });
  else if (!patient.birthDate || !/^\d{4}-\d{2}-\d{2}$/.test(patient.birthDate)) {
    problems.push({
      location: location(
        list.findIndex((p) => p.name === 'patient'),
        '.resource.birthDate',
      ),
      message: 'the patient needs a full birthDate (YYYY-MM-DD) to be forecast',
    });
  }
  if (problems.length > 0 || !patient || !assessmentDate) {
    throw errors.validation('The forecast request is not valid', problems);
  }
  return {
    input: { dob: patient.birthDate!, gender: genderOf(patient), doses, observations, assessmentDate },
    patientReference: patient.id ? `Patient/${patient.id}` : `urn:uuid:${randomUUID()}`,
    immunizationReferences,
    skipped: doseProblems,
  };
}
