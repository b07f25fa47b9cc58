/**
 * Reads the CDC CDSi test cases (CSV layout in test/fixtures/cdsi/LAYOUT.md) and compares the
 * engine's output with each case's expectations. Shared by the test runner and the benchmark.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type {
  ForecastInput,
  ForecastResult,
  SupportingData,
  VaccineGroupForecast,
} from '../../../../src/modules/immunization/cdsi/index.js';

export const CASES_FILE = fileURLToPath(
  new URL('../../../fixtures/cdsi/cdsi-healthy-v4.45-dev.csv', import.meta.url),
);

/** Test-case vaccine group codes -> CDSi vaccine group names (ScheduleSupportingData.xml). */
export const GROUP_NAMES: Record<string, string> = {
  DTAP: 'DTaP/Tdap/Td',
  POL: 'Polio',
  'COVID-19': 'COVID-19',
  HPV: 'HPV',
  HIB: 'Hib',
  PCV: 'Pneumococcal',
  HepB: 'HepB',
  MMR: 'MMR',
  VAR: 'Varicella',
  ROTA: 'Rotavirus',
  MENB: 'Meningococcal B',
  ZOSTER: 'Zoster',
  MCV: 'Meningococcal',
  HepA: 'HepA',
  RSV: 'RSV',
  FLU: 'Influenza',
};

export interface ExpectedDose {
  status: string;
  reason: string;
}

export interface CdcCase {
  id: string;
  name: string;
  groupCode: string;
  vaccineGroup: string;
  input: ForecastInput;
  doses: ExpectedDose[];
  seriesStatus: string;
  forecastNumber?: number;
  earliest?: string;
  recommended?: string;
  pastDue?: string;
}

/** Minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}

function usToIso(text: string): string | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text.trim());
  if (!m) return undefined;
  return `${m[3]}-${(m[1] as string).padStart(2, '0')}-${(m[2] as string).padStart(2, '0')}`;
}

export function loadCdcCases(file = CASES_FILE): CdcCase[] {
  const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'));
  if (!header) return [];
  const col = (name: string): number => {
    const i = header.findIndex((h) => h.trim().toLowerCase() === name.toLowerCase());
    if (i < 0) throw new Error(`CDC test file: column ${name} missing`);
    return i;
  };
  return rows.map((r) => {
    const get = (name: string): string => (r[col(name)] ?? '').trim();
    const input: ForecastInput = {
      dob: usToIso(get('DOB')) ?? '',
      gender: get('gender') === 'M' ? 'M' : get('gender') === 'F' ? 'F' : 'U',
      assessmentDate: usToIso(get('Assessment_Date')),
      doses: [],
    };
    const doses: ExpectedDose[] = [];
    for (let n = 1; n <= 7; n += 1) {
      const date = usToIso(get(`Date_Administered_${n}`));
      if (!date) continue;
      input.doses.push({ cvx: get(`CVX_${n}`), mvx: get(`MVX_${n}`) || undefined, date });
      doses.push({ status: get(`Evaluation_Status_${n}`), reason: get(`Evaluation_Reason_${n}`) });
    }
    const groupCode = get('Vaccine_Group');
    const forecast = get('Forecast_#');
    return {
      id: get('CDC_Test_ID'),
      name: get('Test_Case_Name'),
      groupCode,
      vaccineGroup: GROUP_NAMES[groupCode] ?? groupCode,
      input,
      doses,
      seriesStatus: get('Series_Status'),
      forecastNumber: /^\d+$/.test(forecast) ? Number(forecast) : undefined,
      earliest: usToIso(get('Earliest_Date')),
      recommended: usToIso(get('Recommended_Date')),
      pastDue: usToIso(get('Past_Due_Date')),
    };
  });
}

/**
 * The engine input for a case: its vaccine group plus the groups of any other vaccine given (the
 * CSV also states the evaluation of those doses, e.g. a varicella dose in an MMR case).
 */
export function caseInput(c: CdcCase, data: SupportingData): ForecastInput {
  const groups = new Set([c.vaccineGroup]);
  for (const dose of c.input.doses) {
    const cvx = dose.cvx.length === 1 ? `0${dose.cvx}` : dose.cvx;
    for (const assoc of data.cvxToAntigens.get(cvx) ?? []) {
      for (const g of data.vaccineGroups) if (g.antigens.includes(assoc.antigen)) groups.add(g.name);
    }
  }
  return { ...c.input, vaccineGroups: [...groups] };
}

/** Differences between a case's expectations and the engine's result; empty when the case passes. */
export function compareCase(c: CdcCase, result: ForecastResult): string[] {
  const group: VaccineGroupForecast | undefined = result.vaccineGroups.find(
    (g) => g.vaccineGroup === c.vaccineGroup,
  );
  if (!group) return [`vaccine group ${c.vaccineGroup} missing from the result`];
  const diffs: string[] = [];
  c.doses.forEach((expected, i) => {
    if (expected.status === '') return;
    const actual =
      group.evaluations.find((e) => e.doseIndex === i) ??
      result.vaccineGroups.flatMap((g) => g.evaluations).find((e) => e.doseIndex === i);
    const got = actual ? actual.status : '(not evaluated)';
    if (got.toLowerCase() !== expected.status.toLowerCase()) {
      diffs.push(
        `dose ${i + 1}: expected ${expected.status} (${expected.reason || '-'}), got ${got} (${actual?.reason ?? '-'})`,
      );
    }
  });
  const check = (
    label: string,
    expected: string | number | undefined,
    actual: string | number | undefined,
  ): void => {
    if ((expected ?? '') !== (actual ?? ''))
      diffs.push(`${label}: expected ${expected ?? '-'}, got ${actual ?? '-'}`);
  };
  check('series status', c.seriesStatus.toLowerCase(), group.status);
  check('forecast #', c.forecastNumber, group.targetDose);
  check('earliest', c.earliest, group.earliest);
  check('recommended', c.recommended, group.recommended);
  check('past due', c.pastDue, group.pastDue);
  return diffs;
}
