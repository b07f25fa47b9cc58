/**
 * Conditional skip (CDSi 6.2 for evaluation, 7.1 for forecast): a target dose is not needed when
 * its skip sets are met, e.g. "not required for those 7 years or older".
 */
import { MAX_DATE, MIN_DATE, addDuration } from './dates.js';
import type { DayNumber } from './dates.js';
import { ageDate } from './context.js';
import type { PatientContext, PatientDose } from './context.js';
import type { EvaluationStatus, SeriesDose, SkipCondition, SkipSet } from './types.js';

export interface CountedDose {
  dose: PatientDose;
  status: EvaluationStatus;
}

export interface SkipState {
  ctx: PatientContext;
  /** Doses that may be counted: for evaluation the doses before the current one. */
  doses: readonly CountedDose[];
  /** Date of the dose before the reference point, for "Interval" conditions. */
  previousDoseDate?: DayNumber;
  /** Series groups of this antigen in which the patient has completed a series. */
  completedGroups: ReadonlySet<string>;
}

function countDoses(cond: SkipCondition, state: SkipState): number {
  const { ctx } = state;
  const beginAge = ageDate(ctx, cond.beginAge, MIN_DATE);
  const endAge = ageDate(ctx, cond.endAge, MAX_DATE);
  const byAge = cond.type !== 'Vaccine Count by Date';
  const byDate = cond.type !== 'Vaccine Count by Age';
  let count = 0;
  for (const { dose, status } of state.doses) {
    if (cond.validOnly && status !== 'valid') continue;
    if (cond.vaccineTypes && !cond.vaccineTypes.has(dose.cvx)) continue;
    if (byAge && (dose.date < beginAge || dose.date >= endAge)) continue;
    if (byDate && cond.startDate !== undefined && dose.date < cond.startDate) continue;
    // End dates are exclusive: "before 07/01/2025" is written as endDate 20250701.
    if (byDate && cond.endDate !== undefined && dose.date >= cond.endDate) continue;
    count += 1;
  }
  return count;
}

function conditionMet(cond: SkipCondition, refDate: DayNumber, state: SkipState): boolean {
  const { ctx } = state;
  switch (cond.type) {
    case 'Age':
      return (
        refDate >= ageDate(ctx, cond.beginAge, MIN_DATE) && refDate < ageDate(ctx, cond.endAge, MAX_DATE)
      );
    case 'Interval':
      return (
        state.previousDoseDate !== undefined &&
        cond.interval !== undefined &&
        refDate >= addDuration(state.previousDoseDate, cond.interval)
      );
    case 'Completed Series':
      return cond.seriesGroups.some((g) => state.completedGroups.has(g));
    default: {
      const count = countDoses(cond, state);
      const target = cond.doseCount ?? 0;
      if (cond.countLogic === 'greater than') return count > target;
      if (cond.countLogic === 'less than') return count < target;
      return count === target;
    }
  }
}

function setMet(set: SkipSet, refDate: DayNumber, state: SkipState): boolean {
  if (set.effectiveDate !== undefined && refDate < set.effectiveDate) return false;
  if (set.cessationDate !== undefined && refDate >= set.cessationDate) return false;
  if (set.conditions.length === 0) return false;
  return set.conditionLogic === 'OR'
    ? set.conditions.some((c) => conditionMet(c, refDate, state))
    : set.conditions.every((c) => conditionMet(c, refDate, state));
}

/** The description of the skip set that applies, or undefined when the target dose is needed. */
export function conditionalSkip(
  seriesDose: SeriesDose,
  context: 'Evaluation' | 'Forecast',
  refDate: DayNumber,
  state: SkipState,
): string | undefined {
  for (const skip of seriesDose.conditionalSkips) {
    if (skip.context !== context && skip.context !== 'Both') continue;
    if (skip.sets.length === 0) continue;
    if (skip.setLogic === 'AND') {
      if (skip.sets.every((s) => setMet(s, refDate, state)))
        return skip.sets.map((s) => s.description).join('; ');
    } else {
      const met = skip.sets.find((s) => setMet(s, refDate, state));
      if (met) return met.description;
    }
  }
  return undefined;
}
