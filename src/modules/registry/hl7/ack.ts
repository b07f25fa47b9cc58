import type { SegmentReader } from './segment.js';
import { Hl7ParseError } from './errors.js';
import { parseMessage } from './message.js';

/** One ERR segment. */
export interface Hl7Error {
  /** ERR-4, HL7 table 0516: Error, Warning, Information, Fatal. */
  severity: 'E' | 'W' | 'I' | 'F';
  /** ERR-3.1, HL7 table 0357 (e.g. 101 required field missing). */
  code?: string;
  /** ERR-3.2. */
  codeText?: string;
  /** ERR-5.1, the registry's own error code (table 0533). */
  applicationCode?: string;
  /** ERR-2 as segment^sequence^field[^repetition^component], e.g. "RXA^1^5". */
  location?: string;
  /** ERR-8 user message (ERR-7 diagnostic text when absent). */
  message?: string;
}

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface Ack {
  /** MSH-10 of the ACK itself. */
  controlId: string;
  /** MSA-1. */
  ackCode: AckCode;
  /** MSA-2: the control id of the message being acknowledged. */
  ackedControlId: string;
  /** MSA-3 (deprecated, still sent by some registries). */
  text?: string;
  errors: Hl7Error[];
}

const ACK_CODES = new Set<string>(['AA', 'AE', 'AR', 'CA', 'CE', 'CR']);
const SEVERITIES = new Set<string>(['E', 'W', 'I', 'F']);

/**
 * ERR-1 (ELD, withdrawn in 2.5.1 but still sent by older registries) is read only when ERR-2
 * and ERR-3 are empty: segment^sequence^field^code&text.
 */
export function readErr(err: SegmentReader): Hl7Error {
  const severityText = err.get(4).toUpperCase();
  // A registry that omits ERR-4 is reporting a problem, not a note: treat it as an error.
  const severity = (SEVERITIES.has(severityText) ? severityText : 'E') as Hl7Error['severity'];
  let location = err.components(2).join('^') || undefined;
  let code = err.opt(3, 1);
  let codeText = err.opt(3, 2);
  if (!location && !code && err.repetitions(1) > 0) {
    location = err.components(1).slice(0, 3).join('^') || undefined;
    code = err.opt(1, 4, 0, 1);
    codeText = err.opt(1, 4, 0, 2);
  }
  const error: Hl7Error = { severity };
  if (code) error.code = code;
  if (codeText) error.codeText = codeText;
  const applicationCode = err.opt(5, 1);
  if (applicationCode) error.applicationCode = applicationCode;
  if (location) error.location = location;
  const message = err.opt(8) ?? err.opt(7);
  if (message) error.message = message;
  return error;
}

/** MSA fields shared by ACK and RSP. */
export function readMsa(segments: readonly SegmentReader[]): {
  ackCode: AckCode;
  ackedControlId: string;
  text?: string;
} {
  const msa = segments.find((s) => s.name === 'MSA');
  if (!msa) throw new Hl7ParseError('acknowledgement has no MSA segment');
  const ackCode = msa.get(1);
  if (!ACK_CODES.has(ackCode)) throw new Hl7ParseError(`MSA-1 "${ackCode}" is not an acknowledgement code`);
  const text = msa.opt(3);
  return { ackCode: ackCode as AckCode, ackedControlId: msa.get(2), ...(text ? { text } : {}) };
}

/** Parses an ACK (e.g. ACK^V04^ACK answering a VXU). */
export function parseAck(text: string): Ack {
  const { segments, msh } = parseMessage(text, 'ACK');
  return {
    controlId: msh.get(10),
    ...readMsa(segments),
    errors: segments.filter((s) => s.name === 'ERR').map(readErr),
  };
}
