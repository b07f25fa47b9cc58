/**
 * Gathering the patient's data (CDSi chapter 4): the patient record in engine form and the
 * antigen-level immunization history ("organize immunization history").
 */
import { MAX_DATE, MIN_DATE, addDuration, parseDate } from './dates.js';
import type { DayNumber, Duration } from './dates.js';
import { normaliseCvx } from './xml-read.js';
import type { ForecastInput, Gender, SupportingData } from './types.js';

export interface PatientDose {
  /** Position in the caller's dose list. */
  index: number;
  id?: string;
  cvx: string;
  mvx?: string;
  date: DayNumber;
  isoDate: string;
  subStandardReason?: string;
}

export interface PatientContext {
  data: SupportingData;
  dob: DayNumber;
  gender: Gender;
  assessmentDate: DayNumber;
  /** Observation code -> date it applies from (MIN_DATE when unknown). */
  observations: Map<string, DayNumber>;
  /** All doses, in date order. */
  doses: PatientDose[];
  /** Antigen -> doses containing it, in date order. */
  antigenDoses: Map<string, PatientDose[]>;
  /** dob + duration, memoised per supporting-data duration (the same ages recur across series). */
  ageDates: Map<Duration, DayNumber>;
}

/** dob + duration, or the fallback when the duration is absent (CDSi default ages). */
export function ageDate(ctx: PatientContext, age: Duration | undefined, fallback: DayNumber): DayNumber {
  if (!age) return fallback;
  let date = ctx.ageDates.get(age);
  if (date === undefined) {
    date = addDuration(ctx.dob, age);
    ctx.ageDates.set(age, date);
  }
  return date;
}

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

export function buildContext(input: ForecastInput, data: SupportingData): PatientContext {
  const dob = parseDate(input.dob);
  const assessmentDate = parseDate(input.assessmentDate ?? todayUtc());
  const observations = new Map<string, DayNumber>();
  for (const o of input.observations ?? []) observations.set(o.code, o.date ? parseDate(o.date) : MIN_DATE);
  const doses: PatientDose[] = input.doses
    .map((d, index) => ({
      index,
      id: d.id,
      cvx: normaliseCvx(d.cvx),
      mvx: d.mvx?.trim() ? d.mvx.trim().toUpperCase() : undefined,
      date: parseDate(d.date),
      isoDate: d.date,
      subStandardReason: d.subStandardReason,
    }))
    // Doses after the assessment date have not happened yet from the engine's point of view.
    .filter((d) => d.date <= assessmentDate)
    .sort((a, b) => a.date - b.date || a.index - b.index);
  const ctx: PatientContext = {
    data,
    dob,
    gender: input.gender ?? 'U',
    assessmentDate,
    observations,
    doses,
    antigenDoses: new Map(),
    ageDates: new Map(),
  };
  for (const dose of doses) {
    for (const assoc of data.cvxToAntigens.get(dose.cvx) ?? []) {
      const begin = ageDate(ctx, assoc.beginAge, MIN_DATE);
      const end = ageDate(ctx, assoc.endAge, MAX_DATE);
      if (dose.date < begin || dose.date >= end) continue;
      let list = ctx.antigenDoses.get(assoc.antigen);
      if (!list) {
        list = [];
        ctx.antigenDoses.set(assoc.antigen, list);
      }
      if (!list.includes(dose)) list.push(dose);
    }
  }
  return ctx;
}
