/**
 * The engine's entry point: gathers the patient's data, selects the best series per antigen and
 * combines antigens into vaccine group forecasts. Pure: no I/O beyond the cached supporting data.
 */
import { formatDate } from './dates.js';
import type { DayNumber } from './dates.js';
import { buildContext } from './context.js';
import type { PatientContext } from './context.js';
import { selectPatientSeries } from './series-selection.js';
import { getSupportingData } from './supporting-data.js';
import type {
  AntigenForecast,
  DoseEvaluation,
  ForecastInput,
  ForecastResult,
  SupportingData,
} from './types.js';
import { forecastVaccineGroup } from './vaccine-group.js';

const iso = (d: DayNumber | undefined): string | undefined => (d === undefined ? undefined : formatDate(d));

function forecastAntigen(ctx: PatientContext, name: string): AntigenForecast {
  const antigen = ctx.data.antigens.get(name);
  const chosen = antigen ? selectPatientSeries(ctx, antigen) : undefined;
  if (!chosen) {
    // No series applies to this patient (e.g. a risk-only antigen without an indication).
    return { antigen: name, status: 'not recommended', evaluations: [], recommendedCvx: [] };
  }
  const { evaluation, forecast } = chosen;
  const evaluations: DoseEvaluation[] = evaluation.doses.map((e) => ({
    doseIndex: e.dose.index,
    doseId: e.dose.id,
    cvx: e.dose.cvx,
    date: e.dose.isoDate,
    status: e.status,
    reason: e.reason,
    targetDose: e.targetDose,
  }));
  return {
    antigen: name,
    seriesName: chosen.series.name,
    status: forecast.status,
    targetDose: forecast.status === 'not complete' ? forecast.targetDose : undefined,
    earliest: iso(forecast.earliest),
    recommended: iso(forecast.recommended),
    pastDue: iso(forecast.pastDue),
    latest: iso(forecast.latest),
    reason: forecast.reason,
    evaluations,
    recommendedCvx: forecast.recommendedCvx,
  };
}

/** Evaluates the patient's doses and forecasts every vaccine group (or the ones asked for). */
export function runForecast(
  input: ForecastInput,
  data: SupportingData = getSupportingData(),
): ForecastResult {
  const ctx = buildContext(input, data);
  const wanted = input.vaccineGroups ? new Set(input.vaccineGroups) : undefined;
  const antigenCache = new Map<string, AntigenForecast>();
  const vaccineGroups = data.vaccineGroups
    .filter((g) => !wanted || wanted.has(g.name))
    .map((group) => {
      const antigens = group.antigens.map((name) => {
        let result = antigenCache.get(name);
        if (!result) {
          result = forecastAntigen(ctx, name);
          antigenCache.set(name, result);
        }
        return result;
      });
      return forecastVaccineGroup(group, antigens);
    });
  const unmappedDoses = ctx.doses.filter((d) => !data.cvxToAntigens.has(d.cvx)).map((d) => d.index);
  return {
    assessmentDate: formatDate(ctx.assessmentDate),
    supportingDataVersion: data.version,
    vaccineGroups,
    unmappedDoses,
  };
}
