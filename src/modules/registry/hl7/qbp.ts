import type { Patient } from 'fhir/r4.js';
import {
  addresses,
  birthDate,
  homeContacts,
  mothersMaidenName,
  patientIdentifiers,
  patientName,
  sex,
} from './encode-types.js';
import { Hl7BuildError } from './errors.js';
import { msh, type Hl7Party } from './header.js';
import { Repeated, segment, serialise, type FieldValue } from './segment.js';

export interface QbpInput {
  patient: Patient;
  /** Z34: complete immunization history; Z44: evaluated history and forecast. */
  profile: 'Z34' | 'Z44';
  sender: Hl7Party;
  receiver: Hl7Party;
  /** MSH-10, at most 20 characters. */
  controlId: string;
  /** QPD-2, echoed by the registry in QAK-1 and QPD-2. */
  queryTag: string;
  timestamp: Date;
  processingId?: 'P' | 'T' | 'D';
}

const QUERY_NAME = {
  Z34: ['Z34', 'Request Immunization History', 'CDCPHINVS'],
  Z44: ['Z44', 'Request Evaluated History and Forecast', 'CDCPHINVS'],
} as const;

/** Maximum number of candidate records the registry may return (RCP-2). */
const MAX_CANDIDATES = '20';

function first(value: FieldValue): FieldValue {
  return value instanceof Repeated ? value.repetitions[0] : value;
}

/** QBP^Q11^QBP_Q11: MSH, QPD (patient demographics as query parameters), RCP. */
export function buildQbp(input: QbpInput): string {
  const { patient } = input;
  if (input.queryTag.length === 0 || input.queryTag.length > 32) {
    throw new Hl7BuildError('query tag must be 1-32 characters (QPD-2)');
  }
  const qpd: Record<number, FieldValue> = {
    1: QUERY_NAME[input.profile],
    2: input.queryTag,
    3: patientIdentifiers(patient, input.sender.facility),
    4: patientName(patient),
    5: mothersMaidenName(patient),
    6: birthDate(patient),
    7: sex(patient),
    8: first(addresses(patient.address)),
    9: first(homeContacts(patient.telecom)),
  };
  if (patient.multipleBirthInteger !== undefined) {
    qpd[10] = 'Y';
    qpd[11] = String(patient.multipleBirthInteger);
  } else if (patient.multipleBirthBoolean !== undefined) {
    qpd[10] = patient.multipleBirthBoolean ? 'Y' : 'N';
  }
  return serialise([
    msh({ ...input, messageType: ['QBP', 'Q11', 'QBP_Q11'], profile: [input.profile, 'CDCPHINVS'] }),
    segment('QPD', qpd),
    segment('RCP', { 1: 'I', 2: [MAX_CANDIDATES, ['RD', 'records', 'HL70126']] }),
  ]);
}
