/**
 * Evaluating administered doses against one patient series (CDSi chapter 6): conditional skip,
 * inadvertent vaccine, age, interval (with allowable intervals), live virus conflict, preferable
 * and allowable vaccine, then satisfying the target dose.
 */
import { MAX_DATE, MIN_DATE, addDuration } from './dates.js';
import type { DayNumber } from './dates.js';
import { ageDate } from './context.js';
import type { PatientContext, PatientDose } from './context.js';
import { conditionalSkip } from './skip.js';
import type { CountedDose } from './skip.js';
import type { AgeSpec, EvaluationStatus, IntervalSpec, Series, SeriesDose } from './types.js';

export const REASONS = {
  tooYoung: 'Age: Too Young',
  tooOld: 'Age: Too Old',
  tooSoon: 'Interval: Too Soon',
  liveVirus: 'Live Virus Conflict',
  notPreferable: 'Not a preferable or allowable vaccine',
  inadvertent: 'Inadvertent Vaccine',
  complete: 'Series Already Complete',
} as const;

export interface EvaluatedDose extends CountedDose {
  reason?: string;
  /** Target dose number (1-based) the dose was evaluated against. */
  targetDose?: number;
}

export interface TargetDoseState {
  status: 'satisfied' | 'skipped';
  dose?: PatientDose;
  reason?: string;
}

export interface SeriesEvaluation {
  series: Series;
  doses: EvaluatedDose[];
  /** State of each target dose; index = target dose number - 1. */
  targets: Array<TargetDoseState | undefined>;
  /** Index of the first open target dose (= series length when the series is complete). */
  next: number;
  validCount: number;
}

/** The spec entry in effect on `date` (CDSi effective/cessation dates). */
export function inEffect<T extends { effectiveDate?: DayNumber; cessationDate?: DayNumber }>(
  items: readonly T[],
  date: DayNumber,
): T[] {
  return items.filter(
    (i) =>
      (i.effectiveDate === undefined || date >= i.effectiveDate) &&
      (i.cessationDate === undefined || date < i.cessationDate),
  );
}

export function ageSpecOn(seriesDose: SeriesDose, date: DayNumber): AgeSpec | undefined {
  return inEffect(seriesDose.ages, date)[0] ?? seriesDose.ages[0];
}

/**
 * Reference date of an interval: the previous dose, a satisfied target dose, the most recent dose
 * of listed vaccines, or a relevant observation. Undefined when the interval does not apply yet.
 */
export function intervalReference(
  ctx: PatientContext,
  interval: IntervalSpec,
  previous: readonly EvaluatedDose[],
  targets: ReadonlyArray<TargetDoseState | undefined>,
  before: DayNumber,
): DayNumber | undefined {
  if (interval.fromPrevious) {
    for (let i = previous.length - 1; i >= 0; i -= 1) {
      const p = previous[i] as EvaluatedDose;
      if (isIntervalReference(p)) return p.dose.date;
    }
    return undefined;
  }
  if (interval.fromTargetDose !== undefined) {
    const t = targets[interval.fromTargetDose - 1];
    return t?.status === 'satisfied' ? t.dose?.date : undefined;
  }
  if (interval.fromMostRecent) {
    const set = interval.fromMostRecent;
    let found: DayNumber | undefined;
    for (const d of ctx.doses) {
      if (d.date >= before) break;
      if (set.has(d.cvx)) found = d.date;
    }
    return found;
  }
  if (interval.fromRelevantObs) return ctx.observations.get(interval.fromRelevantObs);
  return undefined;
}

/** Inadvertent and sub-standard doses are not a starting point for intervals. */
export function isIntervalReference(d: EvaluatedDose): boolean {
  return d.status !== 'sub-standard' && d.reason !== REASONS.inadvertent;
}

function vaccineMatches(
  ctx: PatientContext,
  dose: PatientDose,
  specs: SeriesDose['preferableVaccines'],
  checkMvx: boolean,
): boolean {
  return specs.some(
    (v) =>
      v.cvx === dose.cvx &&
      dose.date >= ageDate(ctx, v.beginAge, MIN_DATE) &&
      dose.date < ageDate(ctx, v.endAge, MAX_DATE) &&
      (!checkMvx || v.mvx === undefined || dose.mvx === undefined || v.mvx.toUpperCase() === dose.mvx),
  );
}

function liveVirusConflict(ctx: PatientContext, dose: PatientDose): boolean {
  for (const c of ctx.data.liveVirusByCurrent.get(dose.cvx) ?? []) {
    for (const prev of ctx.doses) {
      if (prev.date >= dose.date) break;
      if (prev.cvx !== c.previousCvx) continue;
      if (dose.date >= addDuration(prev.date, c.begin) && dose.date < addDuration(prev.date, c.minEnd))
        return true;
    }
  }
  return false;
}

interface Check {
  status: EvaluationStatus;
  reason?: string;
}

function intervalsValid(
  ctx: PatientContext,
  dose: PatientDose,
  seriesDose: SeriesDose,
  previous: readonly EvaluatedDose[],
  targets: ReadonlyArray<TargetDoseState | undefined>,
): boolean {
  const preferred = inEffect(seriesDose.intervals, dose.date).every((interval) => {
    const ref = intervalReference(ctx, interval, previous, targets, dose.date);
    return ref === undefined || !interval.absMinInt || dose.date >= addDuration(ref, interval.absMinInt);
  });
  if (preferred) return true;
  return inEffect(seriesDose.allowableIntervals, dose.date).some((interval) => {
    const ref = intervalReference(ctx, interval, previous, targets, dose.date);
    return (
      ref !== undefined &&
      interval.absMinInt !== undefined &&
      dose.date >= addDuration(ref, interval.absMinInt)
    );
  });
}

function evaluateAgainst(
  ctx: PatientContext,
  dose: PatientDose,
  seriesDose: SeriesDose,
  previous: readonly EvaluatedDose[],
  targets: ReadonlyArray<TargetDoseState | undefined>,
): Check {
  if (seriesDose.inadvertentCvx.has(dose.cvx)) return { status: 'not valid', reason: REASONS.inadvertent };
  // Evaluation measures against the absolute minimums, which include the 4-day grace period;
  // the minimums (without grace) only drive forecast dates.
  const age = ageSpecOn(seriesDose, dose.date);
  if (age && dose.date >= ageDate(ctx, age.maxAge, MAX_DATE))
    return { status: 'extraneous', reason: REASONS.tooOld };
  if (age && dose.date < ageDate(ctx, age.absMinAge, MIN_DATE)) {
    return { status: 'not valid', reason: REASONS.tooYoung };
  }
  if (!intervalsValid(ctx, dose, seriesDose, previous, targets))
    return { status: 'not valid', reason: REASONS.tooSoon };
  if (liveVirusConflict(ctx, dose)) return { status: 'not valid', reason: REASONS.liveVirus };
  if (
    !vaccineMatches(ctx, dose, seriesDose.preferableVaccines, true) &&
    !vaccineMatches(ctx, dose, seriesDose.allowableVaccines, false)
  ) {
    return { status: 'not valid', reason: REASONS.notPreferable };
  }
  return { status: 'valid' };
}

export function evaluateSeries(
  ctx: PatientContext,
  series: Series,
  antigenDoses: readonly PatientDose[],
  completedGroups: ReadonlySet<string>,
): SeriesEvaluation {
  const evaluated: EvaluatedDose[] = [];
  const targets: Array<TargetDoseState | undefined> = [];
  let next = 0;
  let validCount = 0;
  for (const dose of antigenDoses) {
    // CDSi "evaluate dose administered condition": a sub-standard dose is set aside first.
    if (dose.subStandardReason !== undefined) {
      evaluated.push({ dose, status: 'sub-standard', reason: dose.subStandardReason || 'Sub-standard dose' });
      continue;
    }
    let seriesDose = series.doses[next];
    while (seriesDose) {
      const prevDate = [...evaluated].reverse().find(isIntervalReference)?.dose.date;
      const skipped = conditionalSkip(seriesDose, 'Evaluation', dose.date, {
        ctx,
        doses: evaluated,
        previousDoseDate: prevDate,
        completedGroups,
      });
      if (skipped === undefined) break;
      targets[next] = { status: 'skipped', reason: skipped };
      next += 1;
      seriesDose = series.doses[next];
    }
    if (!seriesDose) {
      evaluated.push({ dose, status: 'extraneous', reason: REASONS.complete });
      continue;
    }
    const check = evaluateAgainst(ctx, dose, seriesDose, evaluated, targets);
    evaluated.push({
      dose,
      status: check.status,
      reason: check.reason,
      targetDose: next + 1,
    });
    if (check.status === 'valid') {
      validCount += 1;
      targets[next] = { status: 'satisfied', dose };
      // A recurring target dose (e.g. a seasonal dose) stays open after each valid dose.
      if (!seriesDose.recurring) next += 1;
    }
  }
  return { series, doses: evaluated, targets, next, validCount };
}
