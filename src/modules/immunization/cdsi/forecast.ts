/**
 * Forecasting one patient series (CDSi chapter 7): evidence of immunity, contraindications,
 * conditional skip, forecast need and the forecast dates of the next target dose.
 */
import { MAX_DATE, MIN_DATE, addDuration, maxDate } from './dates.js';
import type { DayNumber } from './dates.js';
import { ageDate } from './context.js';
import type { PatientContext } from './context.js';
import { ageSpecOn, inEffect, intervalReference, isIntervalReference } from './evaluate.js';
import type { SeriesEvaluation } from './evaluate.js';
import { conditionalSkip } from './skip.js';
import type { Antigen, SeriesDose, SeriesStatus, VaccineSpec } from './types.js';

export interface SeriesForecast {
  status: SeriesStatus;
  /** 1-based target dose number of the next dose. */
  targetDose?: number;
  earliest?: DayNumber;
  recommended?: DayNumber;
  pastDue?: DayNumber;
  latest?: DayNumber;
  reason?: string;
  recommendedCvx: string[];
  /** Index of the target dose forecast (series length when none is needed). */
  next: number;
}

function immunityReason(ctx: PatientContext, antigen: Antigen): string | undefined {
  for (const code of antigen.immunityCodes) {
    if (ctx.observations.has(code)) return `Evidence of immunity (observation ${code})`;
  }
  const excluded = [...antigen.immunityExclusions].some((code) => ctx.observations.has(code));
  if (antigen.immunityBirthDate !== undefined && ctx.dob < antigen.immunityBirthDate && !excluded) {
    return 'Evidence of immunity: born before the immunity birth date';
  }
  return undefined;
}

function contraindication(ctx: PatientContext, antigen: Antigen): string | undefined {
  for (const c of antigen.groupContraindications) {
    if (!ctx.observations.has(c.observationCode)) continue;
    const begin = ageDate(ctx, c.beginAge, MIN_DATE);
    const end = ageDate(ctx, c.endAge, MAX_DATE);
    if (ctx.assessmentDate >= begin && ctx.assessmentDate < end) return c.text;
  }
  return undefined;
}

function vaccineContraindicationApplies(ctx: PatientContext, antigen: Antigen): boolean {
  return antigen.vaccineContraindications.some((c) => ctx.observations.has(c.observationCode));
}

/** CVX codes a clinician would order for this target dose, excluding contraindicated products. */
function forecastVaccines(
  ctx: PatientContext,
  antigen: Antigen,
  seriesDose: SeriesDose,
  on: DayNumber,
): string[] {
  const blocked = new Set<string>();
  for (const c of antigen.vaccineContraindications) {
    if (!ctx.observations.has(c.observationCode)) continue;
    for (const v of c.vaccines) {
      if (on >= ageDate(ctx, v.beginAge, MIN_DATE) && on < ageDate(ctx, v.endAge, MAX_DATE))
        blocked.add(v.cvx);
    }
  }
  const fits = (v: VaccineSpec): boolean =>
    !blocked.has(v.cvx) && on >= ageDate(ctx, v.beginAge, MIN_DATE) && on < ageDate(ctx, v.endAge, MAX_DATE);
  const preferable = seriesDose.preferableVaccines.filter(fits);
  const flagged = preferable.filter((v) => v.forecastVaccineType);
  // When no preferable product suits the patient's age, an allowable one still counts (if still sold).
  const active = ctx.data.activeCvx;
  const allowable = seriesDose.allowableVaccines.filter(
    (v) => fits(v) && (active.size === 0 || active.has(v.cvx)),
  );
  const chosen = flagged.length > 0 ? flagged : preferable.length > 0 ? preferable : allowable;
  return [...new Set(chosen.map((v) => v.cvx))];
}

/** Latest end of a live-virus conflict between a dose already given and the vaccines to forecast. */
function liveVirusEnd(ctx: PatientContext, cvxs: readonly string[]): DayNumber | undefined {
  let end: DayNumber | undefined;
  for (const cvx of new Set(cvxs)) {
    for (const c of ctx.data.liveVirusByCurrent.get(cvx) ?? []) {
      for (const prev of ctx.doses) {
        if (prev.cvx === c.previousCvx) end = maxDate(end, addDuration(prev.date, c.end));
      }
    }
  }
  return end;
}

interface DoseDates {
  earliest: DayNumber;
  /** Earliest date the intervals alone allow. */
  intervalEarliest: DayNumber;
  recommended: DayNumber;
  pastDue?: DayNumber;
  maxAgeDate: DayNumber;
}

/** Forecast dates of one target dose (CDSi 7.5 "generate forecast dates"). */
function doseDates(ctx: PatientContext, ev: SeriesEvaluation, seriesDose: SeriesDose): DoseDates {
  const age = ageSpecOn(seriesDose, ctx.assessmentDate);
  // Age-based recommended and past-due dates take precedence; intervals only fill in when the
  // target dose has no recommended ages.
  let earliest = ageDate(ctx, age?.minAge, MIN_DATE);
  let recommended = age?.earliestRecAge ? ageDate(ctx, age.earliestRecAge, MIN_DATE) : undefined;
  let pastDue = age?.latestRecAge ? ageDate(ctx, age.latestRecAge, MIN_DATE) - 1 : undefined;
  let intervalEarliest = MIN_DATE;
  let intervalRecommended: DayNumber | undefined;
  let intervalPastDue: DayNumber | undefined;
  for (const interval of inEffect(seriesDose.intervals, ctx.assessmentDate)) {
    const ref = intervalReference(ctx, interval, ev.doses, ev.targets, ctx.assessmentDate + 1);
    if (ref === undefined) continue;
    if (interval.minInt) intervalEarliest = Math.max(intervalEarliest, addDuration(ref, interval.minInt));
    if (interval.earliestRecInt) {
      intervalRecommended = maxDate(intervalRecommended, addDuration(ref, interval.earliestRecInt));
    }
    if (interval.latestRecInt) {
      intervalPastDue = maxDate(intervalPastDue, addDuration(ref, interval.latestRecInt) - 1);
    }
  }
  earliest = Math.max(earliest, intervalEarliest);
  // A dose is never forecast before the last dose given (e.g. right after an inadvertent vaccine).
  const lastGiven = ev.doses.findLast((d) => d.status !== 'sub-standard');
  if (lastGiven) earliest = Math.max(earliest, lastGiven.dose.date);
  recommended ??= intervalRecommended;
  pastDue ??= intervalPastDue;
  // Any product that could be given for this dose may conflict with a live vaccine already given.
  const candidates = seriesDose.preferableVaccines.map((v) => v.cvx);
  earliest = maxDate(earliest, liveVirusEnd(ctx, candidates)) ?? earliest;
  if (seriesDose.seasonStart !== undefined) earliest = Math.max(earliest, seriesDose.seasonStart);
  recommended = Math.max(recommended ?? earliest, earliest);
  if (pastDue !== undefined) pastDue = Math.max(pastDue, recommended);
  return {
    earliest,
    intervalEarliest,
    recommended,
    pastDue,
    maxAgeDate: ageDate(ctx, age?.maxAge, MAX_DATE),
  };
}

export function forecastSeries(
  ctx: PatientContext,
  antigen: Antigen,
  ev: SeriesEvaluation,
  completedGroups: ReadonlySet<string>,
): SeriesForecast {
  let next = ev.next;
  const immune = immunityReason(ctx, antigen);
  if (immune) return { status: 'immune', reason: immune, recommendedCvx: [], next };
  const contra = contraindication(ctx, antigen);
  if (contra) return { status: 'contraindicated', reason: contra, recommendedCvx: [], next };

  const previous = [...ev.doses].reverse().find(isIntervalReference);
  let seriesDose = ev.series.doses[next];
  let dates: DoseDates | undefined;
  while (seriesDose) {
    dates = doseDates(ctx, ev, seriesDose);
    // Forecast skips are judged on the day the intervals would let the dose be given, not before.
    const refDate = Math.max(ctx.assessmentDate, dates.intervalEarliest);
    const skipped = conditionalSkip(seriesDose, 'Forecast', refDate, {
      ctx,
      doses: ev.doses,
      previousDoseDate: previous?.dose.date,
      completedGroups,
    });
    if (skipped === undefined) break;
    next += 1;
    seriesDose = ev.series.doses[next];
  }
  if (!seriesDose || !dates) return { status: 'complete', recommendedCvx: [], next };

  // Reported dose numbers count target doses actually satisfied, not those skipped by rules;
  // a seasonal dose is numbered within its season (CDC test cases number it that way).
  const season = seriesDose.seasonStart;
  const targetDose =
    season === undefined
      ? ev.targets.slice(0, next).filter((t) => t?.status === 'satisfied').length + 1
      : ev.doses.filter((d) => d.status === 'valid' && d.dose.date >= season).length + 1;
  // Past the maximum age now, or by the time the dose could first be given.
  if (Math.max(ctx.assessmentDate, dates.earliest) >= dates.maxAgeDate) {
    return {
      status: 'aged out',
      targetDose,
      reason: 'Patient has exceeded the maximum age',
      recommendedCvx: [],
      next,
    };
  }
  const recommendedCvx = forecastVaccines(
    ctx,
    antigen,
    seriesDose,
    Math.max(ctx.assessmentDate, dates.earliest),
  );
  if (recommendedCvx.length === 0 && vaccineContraindicationApplies(ctx, antigen)) {
    return {
      status: 'contraindicated',
      reason: 'Every vaccine for this dose is contraindicated',
      recommendedCvx,
      next,
    };
  }
  return {
    status: 'not complete',
    targetDose,
    earliest: dates.earliest,
    recommended: dates.recommended,
    pastDue: dates.pastDue,
    latest: dates.maxAgeDate === MAX_DATE ? undefined : dates.maxAgeDate - 1,
    recommendedCvx,
    next,
  };
}
