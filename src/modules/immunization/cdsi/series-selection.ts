/**
 * Selecting the best patient series of an antigen (CDSi chapter 8): relevant series, one best
 * series per series group (scoring complete, in-process and not-started series), then the
 * prioritized series across series groups.
 */
import { MAX_DATE, MIN_DATE, addDuration } from './dates.js';
import { ageDate } from './context.js';
import type { PatientContext } from './context.js';
import { ageSpecOn, evaluateSeries } from './evaluate.js';
import type { SeriesEvaluation } from './evaluate.js';
import { forecastSeries } from './forecast.js';
import type { SeriesForecast } from './forecast.js';
import type { Antigen, Series, SeriesDose } from './types.js';

export interface PatientSeries {
  series: Series;
  evaluation: SeriesEvaluation;
  forecast: SeriesForecast;
}

const GENDER_NAMES = { M: 'male', F: 'female', U: 'unknown' } as const;

function isRelevant(ctx: PatientContext, series: Series): boolean {
  if (series.requiredGenders.length > 0) {
    const gender = GENDER_NAMES[ctx.gender];
    if (!series.requiredGenders.some((g) => g.toLowerCase() === gender)) return false;
  }
  if (series.type === 'Standard') return true;
  if (series.type === 'Evaluation Only') return false;
  return series.indications.some(
    (i) =>
      ctx.observations.has(i.observationCode) &&
      ctx.assessmentDate >= ageDate(ctx, i.beginAge, MIN_DATE) &&
      ctx.assessmentDate < ageDate(ctx, i.endAge, MAX_DATE),
  );
}

/**
 * The patient may be on this series: it started (first valid dose) or can start now within its
 * start ages. A completed series is only held to its maximum start age.
 */
function canStart(ctx: PatientContext, ps: PatientSeries, checkMinimum = true): boolean {
  const first = ps.evaluation.doses.find((d) => d.status === 'valid');
  const start = first ? first.dose.date : ctx.assessmentDate;
  const minimum = checkMinimum ? ageDate(ctx, ps.series.minAgeToStart, MIN_DATE) : MIN_DATE;
  return start >= minimum && start < ageDate(ctx, ps.series.maxAgeToStart, MAX_DATE);
}

function isComplete(ps: PatientSeries): boolean {
  return ps.forecast.status === 'complete' || ps.forecast.status === 'immune';
}

function remainingDoses(ps: PatientSeries): number {
  return Math.max(0, ps.series.doses.length - ps.forecast.next);
}

/**
 * Earliest date the series could be completed: the next dose at its earliest date, then each
 * remaining dose at its minimum age and minimum interval from the one before.
 */
function projectedFinish(ctx: PatientContext, ps: PatientSeries): number {
  if (ps.forecast.status !== 'not complete' || ps.forecast.earliest === undefined) return MAX_DATE;
  let date = ps.forecast.earliest;
  for (let i = ps.forecast.next + 1; i < ps.series.doses.length; i += 1) {
    const dose = ps.series.doses[i] as SeriesDose;
    const age = ageSpecOn(dose, date);
    const fromPrevious = dose.intervals.find((iv) => iv.fromPrevious && iv.minInt);
    date = Math.max(
      ageDate(ctx, age?.minAge, MIN_DATE),
      fromPrevious?.minInt ? addDuration(date, fromPrevious.minInt) : date,
    );
  }
  return date;
}

/** CDSi-style scoring: `points` to every candidate with the best (lowest) `metric`, -1 to the others. */
function award(scores: Map<PatientSeries, number>, metric: (ps: PatientSeries) => number, points = 1): void {
  let best = Number.POSITIVE_INFINITY;
  for (const ps of scores.keys()) best = Math.min(best, metric(ps));
  for (const [ps, score] of scores) scores.set(ps, score + (metric(ps) === best ? points : -1));
}

function byPreference(a: PatientSeries, b: PatientSeries): number {
  return (
    Number(b.series.defaultSeries) - Number(a.series.defaultSeries) ||
    a.series.preference - b.series.preference
  );
}

function pickBest(
  candidates: PatientSeries[],
  score: (scores: Map<PatientSeries, number>) => void,
): PatientSeries {
  if (candidates.length === 1) return candidates[0] as PatientSeries;
  const scores = new Map<PatientSeries, number>(candidates.map((c) => [c, 0]));
  score(scores);
  const top = Math.max(...scores.values());
  const best = candidates.filter((c) => scores.get(c) === top);
  best.sort((a, b) => a.series.preference - b.series.preference);
  return best[0] as PatientSeries;
}

function bestInGroup(ctx: PatientContext, group: PatientSeries[]): PatientSeries {
  if (group.length === 1) return group[0] as PatientSeries;
  // A product series that the patient's doses already follow is not bound by its start ages.
  const startable = group.filter(
    (ps) => canStart(ctx, ps) || (ps.series.productPath && ps.evaluation.validCount > 0),
  );
  const pool = startable.length > 0 ? startable : group;
  const complete = group.filter((ps) => isComplete(ps) && canStart(ctx, ps, false));
  if (complete.length > 0) {
    return pickBest(complete, (s) => {
      award(s, (ps) => -ps.evaluation.validCount);
    });
  }
  const inProcess = pool.filter((ps) => ps.evaluation.validCount > 0);
  if (inProcess.length > 0) {
    return pickBest(inProcess, (s) => {
      award(s, (ps) => (ps.forecast.status === 'aged out' ? 1 : 0));
      award(s, (ps) => -ps.evaluation.validCount);
      // Being closest to completion outweighs any single other criterion.
      award(s, (ps) => remainingDoses(ps), 2);
      award(s, (ps) => projectedFinish(ctx, ps));
    });
  }
  // Nothing started yet: the default series applies, whatever the patient's age.
  const sorted = [...group].sort(byPreference);
  return sorted[0] as PatientSeries;
}

const STATUS_RANK: Record<string, number> = {
  'not complete': 0,
  contraindicated: 1,
  complete: 2,
  immune: 2,
  'not recommended': 3,
  'aged out': 4,
};

export function selectPatientSeries(ctx: PatientContext, antigen: Antigen): PatientSeries | undefined {
  const doses = ctx.antigenDoses.get(antigen.name) ?? [];
  const groups = new Map<string, Series[]>();
  for (const series of antigen.series) {
    if (!isRelevant(ctx, series)) continue;
    const list = groups.get(series.seriesGroup) ?? [];
    list.push(series);
    groups.set(series.seriesGroup, list);
  }
  const completedGroups = new Set<string>();
  const bests: Array<{ best: PatientSeries; startable: boolean }> = [];
  const groupIds = [...groups.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  for (const id of groupIds) {
    const patientSeries = (groups.get(id) ?? []).map((series) => {
      const evaluation = evaluateSeries(ctx, series, doses, completedGroups);
      return { series, evaluation, forecast: forecastSeries(ctx, antigen, evaluation, completedGroups) };
    });
    const best = bestInGroup(ctx, patientSeries);
    if (isComplete(best)) completedGroups.add(id);
    bests.push({
      best,
      startable: patientSeries.some((ps) => canStart(ctx, ps) || ps.evaluation.validCount > 0),
    });
  }
  if (bests.length === 0) return undefined;
  const applicable = bests.filter((b) => b.startable);
  const pool = (applicable.length > 0 ? applicable : bests).map((b) => b.best);
  pool.sort(
    (a, b) =>
      a.series.priority.localeCompare(b.series.priority) ||
      (STATUS_RANK[a.forecast.status] ?? 9) - (STATUS_RANK[b.forecast.status] ?? 9),
  );
  return pool[0];
}
