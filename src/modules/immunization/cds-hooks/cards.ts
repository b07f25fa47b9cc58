import { randomUUID } from 'node:crypto';
import type { ServiceRequest } from 'fhir/r4.js';
import type { ForecastResult, VaccineGroupForecast } from '../cdsi/index.js';
import { CVX_SYSTEM } from '../fhir/codes.js';

/** A CDS Hooks card (the fields this service uses). */
export interface Card {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; topic?: { system: string; code: string; display: string } };
  suggestions?: Array<{
    label: string;
    uuid: string;
    isRecommended?: boolean;
    actions: Array<{ type: 'create'; description: string; resource: ServiceRequest }>;
  }>;
  selectionBehavior?: 'at-most-one' | 'any';
}

export interface CardOptions {
  patientId: string;
  sourceLabel: string;
  cvxDescription(cvx: string): string | undefined;
}

// CDS Hooks asks for summaries under 140 characters.
const clip = (text: string) => (text.length <= 139 ? text : `${text.slice(0, 138)}…`);

function dueState(group: VaccineGroupForecast, today: string): 'overdue' | 'due' | null {
  if (group.status !== 'not complete') return null;
  if (group.pastDue && today >= group.pastDue) return 'overdue';
  const dueFrom = group.recommended ?? group.earliest;
  return dueFrom && today >= dueFrom ? 'due' : null;
}

function datesTable(group: VaccineGroupForecast): string {
  const rows = [
    ['Earliest', group.earliest],
    ['Recommended', group.recommended],
    ['Past due', group.pastDue],
    ['Latest', group.latest],
  ].filter(([, value]) => value);
  return ['| | date |', '|---|---|', ...rows.map(([label, value]) => `| ${label} | ${value} |`)].join('\n');
}

function orderSuggestion(group: VaccineGroupForecast, options: CardOptions): Card['suggestions'] {
  const coding = group.recommendedCvx.map((cvx) => {
    const display = options.cvxDescription(cvx);
    return { system: CVX_SYSTEM, code: cvx, ...(display ? { display } : {}) };
  });
  const order: ServiceRequest = {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'proposal',
    subject: { reference: `Patient/${options.patientId}` },
    code: { coding, text: `${group.vaccineGroup} vaccine` },
  };
  return [
    {
      label: clip(
        `Order ${group.vaccineGroup} vaccine (dose ${group.targetDose ?? ''})`.replace(' (dose )', ''),
      ),
      uuid: randomUUID(),
      isRecommended: true,
      actions: [
        { type: 'create', description: `Propose ${group.vaccineGroup} vaccination`, resource: order },
      ],
    },
  ];
}

/** Cards for a patient-view: overdue and due vaccine groups, then doses that do not count. */
export function forecastCards(result: ForecastResult, options: CardOptions): Card[] {
  const today = result.assessmentDate;
  const source = { label: options.sourceLabel };
  const cards: Card[] = [];
  for (const group of result.vaccineGroups) {
    const state = dueState(group, today);
    if (!state) continue;
    const dose = group.targetDose ? ` dose ${group.targetDose}` : '';
    cards.push({
      uuid: randomUUID(),
      summary: clip(
        state === 'overdue'
          ? `${group.vaccineGroup}${dose} is overdue (past due ${group.pastDue})`
          : `${group.vaccineGroup}${dose} is due`,
      ),
      indicator: state === 'overdue' ? 'warning' : 'info',
      detail: `${group.vaccineGroup}: next dose${dose}, series status "${group.status}".\n\n${datesTable(group)}`,
      source,
      suggestions: orderSuggestion(group, options),
      selectionBehavior: 'at-most-one',
    });
  }
  for (const group of result.vaccineGroups) {
    for (const evaluation of group.evaluations) {
      if (evaluation.status !== 'not valid') continue;
      const vaccine = options.cvxDescription(evaluation.cvx) ?? `CVX ${evaluation.cvx}`;
      cards.push({
        uuid: randomUUID(),
        summary: clip(`${group.vaccineGroup}: the dose of ${evaluation.date} does not count`),
        indicator: 'warning',
        detail: `${vaccine} given ${evaluation.date} is not valid for ${group.vaccineGroup}${
          evaluation.reason ? `: ${evaluation.reason}` : ''
        }.`,
        source,
      });
    }
  }
  return cards;
}
