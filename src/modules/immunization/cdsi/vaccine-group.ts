/**
 * Vaccine group forecast (CDSi chapter 9): combines the antigen forecasts of a vaccine group
 * (e.g. Diphtheria, Tetanus and Pertussis into DTaP/Tdap/Td) into one status and set of dates.
 */
import type {
  AntigenForecast,
  DoseEvaluation,
  EvaluationStatus,
  SeriesStatus,
  VaccineGroup,
  VaccineGroupForecast,
} from './types.js';

function combineStatus(statuses: EvaluationStatus[]): EvaluationStatus {
  if (statuses.includes('sub-standard')) return 'sub-standard';
  if (statuses.includes('not valid')) return 'not valid';
  if (statuses.includes('valid')) return 'valid';
  return 'extraneous';
}

/** One evaluation per administered dose that contains an antigen of the group. */
function groupEvaluations(antigens: AntigenForecast[]): DoseEvaluation[] {
  const byDose = new Map<number, DoseEvaluation[]>();
  for (const a of antigens) {
    for (const e of a.evaluations) {
      const list = byDose.get(e.doseIndex) ?? [];
      list.push(e);
      byDose.set(e.doseIndex, list);
    }
  }
  const out: DoseEvaluation[] = [];
  for (const list of byDose.values()) {
    const status = combineStatus(list.map((e) => e.status));
    const head = list[0] as DoseEvaluation;
    const reasonFrom = list.find((e) => e.status === status && e.reason) ?? list.find((e) => e.reason);
    out.push({
      ...head,
      status,
      reason: status === 'valid' ? undefined : reasonFrom?.reason,
      targetDose: list.find((e) => e.status === status)?.targetDose ?? head.targetDose,
    });
  }
  return out.sort((a, b) => a.date.localeCompare(b.date) || a.doseIndex - b.doseIndex);
}

type MaybeDate = string | undefined;

function present(dates: MaybeDate[]): string[] {
  return dates.filter((d): d is string => d !== undefined).sort();
}

/** Earliest of the ISO dates given (undefined when none). */
function first(dates: MaybeDate[]): MaybeDate {
  return present(dates)[0];
}

/** Latest of the ISO dates given (undefined when none). */
function last(dates: MaybeDate[]): MaybeDate {
  const sorted = present(dates);
  return sorted[sorted.length - 1];
}

function groupStatus(antigens: AntigenForecast[]): SeriesStatus {
  const statuses = antigens.map((a) => a.status);
  if (statuses.includes('not complete')) return 'not complete';
  if (statuses.includes('contraindicated')) return 'contraindicated';
  if (statuses.length > 0 && statuses.every((s) => s === 'immune')) return 'immune';
  if (statuses.some((s) => s === 'complete' || s === 'immune')) return 'complete';
  if (statuses.includes('aged out')) return 'aged out';
  return 'not recommended';
}

export function forecastVaccineGroup(group: VaccineGroup, antigens: AntigenForecast[]): VaccineGroupForecast {
  const status = groupStatus(antigens);
  const evaluations = groupEvaluations(antigens);
  const base: VaccineGroupForecast = {
    vaccineGroup: group.name,
    status,
    antigens,
    evaluations,
    recommendedCvx: [],
  };
  const open = antigens.filter((a) => a.status === 'not complete');
  if (open.length === 0) {
    const reason = antigens.find((a) => a.status === status)?.reason;
    return reason ? { ...base, reason } : base;
  }
  const union = [...new Set(open.flatMap((a) => a.recommendedCvx))];
  const pastDue = first(open.map((a) => a.pastDue));
  if (!group.administerFullVaccineGroup) {
    // The first antigen that is due drives the group, but never before the group's last dose.
    const lastGiven = evaluations.findLast((e) => e.status !== 'sub-standard')?.date;
    const earliest = last([first(open.map((a) => a.earliest)), lastGiven]);
    const recommended = last([first(open.map((a) => a.recommended)), earliest]);
    return {
      ...base,
      targetDose: open[0]?.targetDose,
      earliest,
      recommended,
      pastDue: pastDue === undefined ? undefined : last([pastDue, recommended]),
      latest: last(open.map((a) => a.latest)),
      recommendedCvx: union,
    };
  }
  // One vaccine must cover every antigen: it cannot be given before the last antigen allows it,
  // and it is due as soon as the first antigen is due.
  const earliest = last(open.map((a) => a.earliest));
  const recommended = last([first(open.map((a) => a.recommended)), earliest]);
  const cvxSets = open.map((a) => new Set(a.recommendedCvx));
  const covering = union.filter((c) => cvxSets.every((set) => set.has(c)));
  return {
    ...base,
    targetDose: Math.min(...open.map((a) => a.targetDose ?? Number.POSITIVE_INFINITY)),
    earliest,
    recommended,
    pastDue: pastDue === undefined ? undefined : last([pastDue, recommended]),
    latest: first(open.map((a) => a.latest)),
    recommendedCvx: covering.length > 0 ? covering : union,
  };
}
