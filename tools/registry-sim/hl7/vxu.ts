import type { Hl7Segment } from '@medplum/core';
import { KNOWN_CVX } from '../cvx.js';
import { patientKey, type DoseInput, type PatientRecord } from '../store.js';
import type { DoseAction } from '../types.js';
import { issue, type Hl7Issue } from './ack.js';
import type { Hl7Reader } from './reader.js';
import { isHl7DateTime } from './writer.js';

export interface VxuCheck {
  issues: Hl7Issue[];
  patient?: PatientRecord;
  doses: DoseInput[];
}

const COMPLETION_STATUS = new Set(['CP', 'RE', 'NA', 'PA']);
const ACTIONS = new Set(['A', 'U', 'D']);
const SEX = new Set(['F', 'M', 'U', 'X', 'O', 'N', 'A']);
const VFC_ELIGIBILITY = '64994-7';

/**
 * Checks a VXU^V04 against the required segments and fields of the CDC guide (2.5.1 release 1.5)
 * and extracts the patient and doses it would store. MSH checks are done by the caller.
 */
export function checkVxu(msg: Hl7Reader, controlId: string): VxuCheck {
  const issues: Hl7Issue[] = [];
  const pid = msg.segment('PID');
  if (!pid) {
    issues.push(issue('100', 'E', ['PID', 1], 'PID segment is required'));
    return { issues, doses: [] };
  }
  const patient = checkPid(msg, pid, issues);
  const doses: DoseInput[] = [];
  let orc: Hl7Segment | undefined;
  let orcSeq = 0;
  let rxaSeq = 0;
  let current:
    { rxa: Hl7Segment; orc: Hl7Segment; orcSeq: number; rxaSeq: number; after: Hl7Segment[] } | undefined;
  const groups: NonNullable<typeof current>[] = [];
  for (const s of msg.segments) {
    if (s.name === 'ORC') {
      if (orc) issues.push(issue('100', 'E', ['ORC', orcSeq], 'ORC segment is not followed by an RXA'));
      orc = s;
      orcSeq += 1;
      current = undefined;
    } else if (s.name === 'RXA') {
      rxaSeq += 1;
      if (!orc) {
        issues.push(issue('100', 'E', ['RXA', rxaSeq], 'RXA segment must follow an ORC segment'));
        continue;
      }
      current = { rxa: s, orc, orcSeq, rxaSeq, after: [] };
      groups.push(current);
      orc = undefined;
    } else if (current && (s.name === 'RXR' || s.name === 'OBX')) {
      current.after.push(s);
    }
  }
  if (orc) issues.push(issue('100', 'E', ['ORC', orcSeq], 'ORC segment is not followed by an RXA'));
  if (rxaSeq === 0)
    issues.push(issue('100', 'E', ['RXA', 1], 'at least one ORC/RXA order group is required'));

  for (const g of groups) {
    const dose = checkOrder(msg, g, issues);
    if (dose && patient) doses.push({ ...dose, ...patientFields(patient), controlId });
  }
  return { issues, patient, doses };
}

function checkPid(msg: Hl7Reader, pid: Hl7Segment, issues: Hl7Issue[]): PatientRecord | undefined {
  const identifiers: PatientRecord['identifiers'] = [];
  for (let rep = 0; rep < msg.repetitions(pid, 3); rep++) {
    const value = msg.value(pid, 3, 1, rep);
    if (value)
      identifiers.push({ value, authority: msg.value(pid, 3, 4, rep, 0), type: msg.value(pid, 3, 5, rep) });
  }
  if (identifiers.length === 0)
    issues.push(issue('101', 'E', ['PID', 1, 3, 1], 'PID-3 patient identifier is required'));
  const family = msg.value(pid, 5, 1);
  if (!family) issues.push(issue('101', 'E', ['PID', 1, 5, 1], 'PID-5 patient name is required'));
  const dob = msg.value(pid, 7);
  if (!dob) issues.push(issue('101', 'E', ['PID', 1, 7, 1], 'PID-7 date of birth is required'));
  else if (!isHl7DateTime(dob))
    issues.push(issue('102', 'E', ['PID', 1, 7, 1], 'PID-7 is not a valid date', '2'));
  const sex = msg.value(pid, 8);
  if (!sex) issues.push(issue('101', 'E', ['PID', 1, 8, 1], 'PID-8 administrative sex is required'));
  else if (!SEX.has(sex))
    issues.push(issue('103', 'W', ['PID', 1, 8, 1], `PID-8 value "${sex}" is not in HL70001`, '5'));
  const first = identifiers[0];
  if (!first) return undefined;
  return {
    key: patientKey(first.value, first.authority),
    identifiers,
    family,
    given: msg.value(pid, 5, 2),
    dob: dob.slice(0, 8),
    sex,
  };
}

type OrderDose = Omit<
  DoseInput,
  'patientKey' | 'patientId' | 'assigningAuthority' | 'patientName' | 'dob' | 'controlId'
>;

function checkOrder(
  msg: Hl7Reader,
  g: { rxa: Hl7Segment; orc: Hl7Segment; orcSeq: number; rxaSeq: number; after: Hl7Segment[] },
  issues: Hl7Issue[],
): OrderDose | undefined {
  const { rxa, rxaSeq: n } = g;
  const before = issues.filter((i) => i.severity === 'E').length;
  const date = msg.value(rxa, 3);
  if (!date) issues.push(issue('101', 'E', ['RXA', n, 3, 1], 'RXA-3 administration date is required'));
  else if (!isHl7DateTime(date))
    issues.push(issue('102', 'E', ['RXA', n, 3, 1], 'RXA-3 is not a valid date', '2'));

  const cvx = vaccineCode(msg, rxa, n, issues);
  const status = msg.value(rxa, 20) || '';
  if (!status) issues.push(issue('101', 'E', ['RXA', n, 20, 1], 'RXA-20 completion status is required'));
  else if (!COMPLETION_STATUS.has(status)) {
    issues.push(issue('103', 'E', ['RXA', n, 20, 1], `RXA-20 value "${status}" is not in HL70322`, '5'));
  }
  const source = msg.value(rxa, 9);
  if (status === 'CP' && !source) {
    issues.push(
      issue(
        '101',
        'E',
        ['RXA', n, 9, 1],
        'RXA-9 administration notes (NIP001) are required for a completed dose',
      ),
    );
  }
  const action = msg.value(rxa, 21);
  if (!action) issues.push(issue('101', 'E', ['RXA', n, 21, 1], 'RXA-21 action code is required'));
  else if (!ACTIONS.has(action))
    issues.push(issue('103', 'E', ['RXA', n, 21, 1], `RXA-21 value "${action}" is not in HL70323`, '5'));
  const fillerOrder = msg.value(g.orc, 3);
  if ((action === 'U' || action === 'D') && !fillerOrder) {
    issues.push(
      issue(
        '101',
        'E',
        ['ORC', g.orcSeq, 3, 1],
        `ORC-3 filler order number is required to ${action === 'D' ? 'delete' : 'update'} a dose`,
      ),
    );
  }
  const administered = source === '00';
  const hasVfc = g.after.some((s) => s.name === 'OBX' && msg.value(s, 3) === VFC_ELIGIBILITY);
  if (administered && action !== 'D' && (status === 'CP' || status === 'PA') && !hasVfc) {
    issues.push(
      issue(
        '101',
        'W',
        ['RXA', n],
        'VFC eligibility observation (OBX 64994-7) is missing for an administered dose',
        '6',
      ),
    );
  }
  if (issues.filter((i) => i.severity === 'E').length > before) return undefined;
  const rxr = g.after.find((s) => s.name === 'RXR');
  return {
    cvx,
    date: date.slice(0, 8),
    lot: msg.value(rxa, 15),
    mvx: msg.value(rxa, 17),
    historical: !administered,
    action: action as DoseAction,
    fillerOrder,
    completionStatus: status,
    route: rxr ? msg.value(rxr, 1) : '',
    site: rxr ? msg.value(rxr, 2) : '',
    source: 'soap',
  };
}

/** RXA-5 must carry a CVX code, as the primary or the alternate coding. */
function vaccineCode(msg: Hl7Reader, rxa: Hl7Segment, n: number, issues: Hl7Issue[]): string {
  const code = msg.value(rxa, 5, 1);
  const system = msg.value(rxa, 5, 3).toUpperCase();
  const altSystem = msg.value(rxa, 5, 6).toUpperCase();
  if (!code) {
    issues.push(issue('101', 'E', ['RXA', n, 5, 1], 'RXA-5 administered code (CVX) is required'));
    return '';
  }
  const cvx = system === 'CVX' || system === '' ? code : altSystem === 'CVX' ? msg.value(rxa, 5, 4) : '';
  if (!cvx) {
    issues.push(issue('103', 'E', ['RXA', n, 5, 1], `RXA-5 must be coded with CVX, not "${system}"`, '5'));
    return '';
  }
  if (!KNOWN_CVX.has(cvx)) {
    issues.push(issue('103', 'W', ['RXA', n, 5, 1], `RXA-5 CVX code "${cvx}" is not recognised`, '5'));
  }
  return cvx;
}

function patientFields(
  p: PatientRecord,
): Pick<DoseInput, 'patientKey' | 'patientId' | 'assigningAuthority' | 'patientName' | 'dob'> {
  const first = p.identifiers[0]!;
  return {
    patientKey: p.key,
    patientId: first.value,
    assigningAuthority: first.authority,
    patientName: { family: p.family, given: p.given },
    dob: p.dob,
  };
}
