import type { Hl7Reader } from './reader.js';
import { comp, hl7Now, newControlId, seg } from './writer.js';

export type AckCode = 'AA' | 'AE' | 'AR';

/** HL7 table 0357 (message error condition codes) entries the simulator reports. */
export const HL7_0357 = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '207': 'Application internal error',
} as const;

/** HL7 table 0533 (application error codes, CDC guide) entries the simulator reports. */
export const HL7_0533 = {
  '2': 'Invalid Date',
  '4': 'Invalid value',
  '5': 'Table value not found',
  '6': 'Required observation missing',
} as const;

export interface Hl7Issue {
  code: keyof typeof HL7_0357;
  severity: 'E' | 'W';
  /** ERR-2 error location: segment^sequence^field^repetition. */
  location: string[];
  message: string;
  appCode?: keyof typeof HL7_0533;
}

export function issue(
  code: Hl7Issue['code'],
  severity: Hl7Issue['severity'],
  location: (string | number)[],
  message: string,
  appCode?: Hl7Issue['appCode'],
): Hl7Issue {
  return { code, severity, location: location.map(String), message, appCode };
}

/** AR when any issue is an error, AE when there are only warnings, AA otherwise. */
export function ackCodeFor(issues: Hl7Issue[]): AckCode {
  if (issues.some((i) => i.severity === 'E')) return 'AR';
  return issues.length > 0 ? 'AE' : 'AA';
}

export function errSegment(i: Hl7Issue): string {
  return seg(
    'ERR',
    '',
    comp(...i.location),
    comp(i.code, HL7_0357[i.code], 'HL70357'),
    i.severity,
    i.appCode ? comp(i.appCode, HL7_0533[i.appCode], 'HL70533') : '',
    '',
    '',
    comp(i.message),
  );
}

/** MSH of a message the registry sends back, addressed to the sender of `request`. */
export function replyMsh(request: Hl7Reader | undefined, messageType: string, profile: string): string {
  const msh = request?.segment('MSH');
  const v = (field: number) => (request && msh ? request.value(msh, field) : '');
  return seg(
    'MSH',
    '^~\\&',
    comp(v(5) || 'IIS-SIM'),
    comp(v(6) || 'IIS-SIM'),
    comp(v(3)),
    comp(v(4)),
    hl7Now(),
    '',
    messageType,
    newControlId(),
    comp(v(11) || 'P'),
    '2.5.1',
    '',
    '',
    'NE',
    'NE',
    '',
    '',
    '',
    '',
    profile,
  );
}

/** ACK to a VXU (or to a message the simulator cannot handle). */
export function buildAck(
  request: Hl7Reader | undefined,
  code: AckCode,
  issues: Hl7Issue[],
  event = 'V04',
): string {
  const msh = request?.segment('MSH');
  const controlId = request && msh ? request.value(msh, 10) : '';
  return [
    replyMsh(request, comp('ACK', event, 'ACK'), comp('Z23', 'CDCPHINVS')),
    seg('MSA', code, comp(controlId)),
    ...issues.map(errSegment),
  ].join('\r');
}
