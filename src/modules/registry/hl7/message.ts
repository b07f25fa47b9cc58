import { Hl7Message } from '@medplum/core';
import { Hl7ParseError } from './errors.js';
import { SegmentReader } from './segment.js';

/** A parsed incoming message: its segments as readers, plus the header. */
export interface ParsedMessage {
  segments: SegmentReader[];
  msh: SegmentReader;
}

// MLLP start block (VT), end block (FS) and a byte-order mark may surround a message.
const FRAMING = new Set(['\u000b', '\u001c', '\ufeff']);

function stripFraming(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (FRAMING.has(text.charAt(start)) || /\s/.test(text.charAt(start)))) start++;
  while (end > start && (FRAMING.has(text.charAt(end - 1)) || /\s/.test(text.charAt(end - 1)))) end--;
  return text.slice(start, end);
}

/** Strips MLLP framing and blank lines, then parses; anything that is not an HL7 v2 message fails clearly. */
export function parseMessage(text: string, expectedType: string): ParsedMessage {
  if (typeof text !== 'string') throw new Hl7ParseError('HL7 message must be a string');
  const cleaned = stripFraming(text);
  if (!/^MSH(.)(?:(?!\1).){4}\1/.test(cleaned)) {
    throw new Hl7ParseError('not an HL7 v2 message: it must start with MSH and its encoding characters');
  }
  let message: Hl7Message;
  try {
    message = Hl7Message.parse(cleaned);
  } catch (err) {
    throw new Hl7ParseError(`cannot parse HL7 message: ${(err as Error).message}`);
  }
  const segments = message.segments.filter((s) => s.name.trim() !== '').map((s) => new SegmentReader(s));
  const msh = segments[0] as SegmentReader;
  const type = msh.get(9, 1);
  if (type !== expectedType)
    throw new Hl7ParseError(`expected a ${expectedType} message, got "${type || '(none)'}" in MSH-9`);
  return { segments, msh };
}
