import { Hl7Message, type Hl7Field, type Hl7Segment } from '@medplum/core';
import { unescapeHl7, type Delimiters } from './escape.js';

const MLLP_START = String.fromCharCode(0x0b);
const MLLP_END = String.fromCharCode(0x1c);

/** A parsed HL7 v2 message with decoded, 1-based field access. */
export class Hl7Reader {
  readonly segments: Hl7Segment[];
  readonly delimiters: Delimiters;

  private constructor(message: Hl7Message) {
    this.segments = message.segments.filter((s) => s.name.trim() !== '');
    const c = message.context;
    this.delimiters = {
      field: c.fieldSeparator,
      component: c.componentSeparator,
      repetition: c.repetitionSeparator,
      escape: c.escapeCharacter,
      subcomponent: c.subcomponentSeparator,
    };
  }

  /** Parses a message; undefined when the text does not start with an MSH segment. */
  static parse(text: string): Hl7Reader | undefined {
    // Tolerate MLLP framing characters and surrounding whitespace left by the sender.
    const clean = text.replaceAll(MLLP_START, '').replaceAll(MLLP_END, '').trim();
    if (!clean.startsWith('MSH') || clean.length < 8) return undefined;
    return new Hl7Reader(Hl7Message.parse(clean));
  }

  segment(name: string): Hl7Segment | undefined {
    return this.segments.find((s) => s.name === name);
  }

  all(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** Decoded component (1-based) of a field repetition (0-based); '' when absent. */
  value(
    segment: Hl7Segment | undefined,
    field: number,
    component = 1,
    repetition = 0,
    subcomponent?: number,
  ): string {
    if (!segment) return '';
    const f = segment.getField(field) as Hl7Field | undefined;
    if (!f) return '';
    const raw = f.getComponent(component, subcomponent, repetition);
    return raw ? unescapeHl7(raw, this.delimiters).trim() : '';
  }

  /** Number of repetitions of a field (0 when empty). */
  repetitions(segment: Hl7Segment, field: number): number {
    const f = segment.getField(field) as Hl7Field | undefined;
    if (!f || f.toString() === '') return 0;
    return f.components.length;
  }

  /** Raw (still encoded) text of a field, for echoing it back unchanged. */
  raw(segment: Hl7Segment | undefined, field: number): string {
    if (!segment) return '';
    const f = segment.getField(field) as Hl7Field | undefined;
    return f ? f.toString() : '';
  }
}
