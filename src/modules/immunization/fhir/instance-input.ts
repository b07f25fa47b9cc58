import type { Parameters } from 'fhir/r4.js';
import { errors } from '../../../platform/http/errors.js';

const FULL_DATE = /^\d{4}-\d{2}-\d{2}$/;

function checked(value: string, location: string): string {
  if (!FULL_DATE.test(value) || Number.isNaN(Date.parse(value))) {
    throw errors.validation('The forecast request is not valid', [
      { location, message: 'assessmentDate must be a full date (YYYY-MM-DD)' },
    ]);
  }
  return value;
}

/**
 * The assessment date of `Patient/{id}/$immds-forecast`: the `assessmentDate` query parameter
 * (GET) or Parameters body parameter (POST), today (UTC) when neither is given. The patient and
 * their records come from the store, so no other parameter is accepted.
 */
export function instanceAssessmentDate(body: unknown, query: unknown, today: string): string {
  const fromQuery = (query as Record<string, unknown> | undefined)?.assessmentDate;
  if (fromQuery !== undefined) {
    if (typeof fromQuery !== 'string') {
      throw errors.validation('The forecast request is not valid', [
        { location: 'assessmentDate', message: 'assessmentDate may be given once' },
      ]);
    }
    return checked(fromQuery, 'assessmentDate');
  }
  if (body === undefined || body === null || body === '') return today;
  const parameters = body as Parameters;
  if (typeof body !== 'object' || parameters.resourceType !== 'Parameters') {
    throw errors.badRequest('The body must be a FHIR Parameters resource', [
      { location: 'Parameters', message: 'resourceType must be Parameters' },
    ]);
  }
  const list = Array.isArray(parameters.parameter) ? parameters.parameter : [];
  const problems = list.flatMap((p, i) =>
    p.name === 'assessmentDate'
      ? []
      : [
          {
            location: `Parameters.parameter[${i}].name`,
            message: `${JSON.stringify(p.name)} is not accepted here: the patient's records come from the server`,
          },
        ],
  );
  const dates = list.filter((p) => p.name === 'assessmentDate');
  if (dates.length > 1)
    problems.push({ location: 'Parameters', message: 'assessmentDate may be given once' });
  if (problems.length > 0) throw errors.validation('The forecast request is not valid', problems);
  const given = dates[0];
  if (!given) return today;
  const index = list.indexOf(given);
  return checked(given.valueDate ?? '', `Parameters.parameter[${index}].valueDate`);
}
