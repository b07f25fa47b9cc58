import type { Hl7Segment } from '@medplum/core';
import { instantToHl7Ts } from './datetime.js';
import { Hl7BuildError } from './errors.js';
import { segment } from './segment.js';

/** An application and facility as they appear in MSH-3/4 (sender) or MSH-5/6 (receiver). */
export interface Hl7Party {
  application: string;
  facility: string;
}

export interface HeaderInput {
  sender: Hl7Party;
  receiver: Hl7Party;
  controlId: string;
  timestamp: Date;
  processingId?: 'P' | 'T' | 'D';
  messageType: readonly [string, string, string];
  profile: readonly [string, string];
}

/** The guide caps MSH-10 at 20 characters. */
export const MAX_CONTROL_ID_LENGTH = 20;

export function msh(input: HeaderInput): Hl7Segment {
  const { controlId } = input;
  if (controlId.length === 0 || controlId.length > MAX_CONTROL_ID_LENGTH) {
    throw new Hl7BuildError(`message control id must be 1-${MAX_CONTROL_ID_LENGTH} characters (MSH-10)`);
  }
  return segment('MSH', {
    3: input.sender.application,
    4: input.sender.facility,
    5: input.receiver.application,
    6: input.receiver.facility,
    7: instantToHl7Ts(input.timestamp),
    9: input.messageType,
    10: controlId,
    11: input.processingId ?? 'P',
    12: '2.5.1',
    15: 'ER',
    16: 'AL',
    21: input.profile,
  });
}
