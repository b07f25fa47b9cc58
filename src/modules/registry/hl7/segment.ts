import { Hl7Context, Hl7Field, Hl7Message, Hl7Segment } from '@medplum/core';
import { escapeHl7, unescapeHl7 } from './escape.js';

/** A component: plain text, or its sub-components in order. Text is escaped when encoded. */
export type Component = string | undefined | readonly (string | undefined)[];
/** One repetition of a field: plain text (a single component) or its components in order. */
export type Repetition = string | undefined | readonly Component[];

const CONTEXT = new Hl7Context();

function trimEnd<T>(values: T[], isEmpty: (v: T) => boolean): T[] {
  let end = values.length;
  while (end > 0 && isEmpty(values[end - 1] as T)) end--;
  return values.slice(0, end);
}

function encodeComponent(component: Component): string {
  if (component === undefined || typeof component === 'string') return escapeHl7(component ?? '', CONTEXT);
  const subs = component.map((s) => escapeHl7(s ?? '', CONTEXT));
  return trimEnd(subs, (s) => s === '').join(CONTEXT.subcomponentSeparator);
}

function encodeRepetition(rep: Repetition): string[] {
  const components = typeof rep === 'string' || rep === undefined ? [rep] : rep;
  const encoded = trimEnd(components.map(encodeComponent), (c) => c === '');
  return encoded.length > 0 ? encoded : [''];
}

/** A field with several repetitions (empty repetitions are dropped). */
export class Repeated {
  constructor(readonly repetitions: readonly Repetition[]) {}
}

/** A field value: one repetition, or {@link Repeated} for several. */
export type FieldValue = Repetition | Repeated;

function encodeField(value: FieldValue): Hl7Field {
  const reps = value instanceof Repeated ? value.repetitions : [value];
  const encoded = reps.map(encodeRepetition).filter((r) => r.join('') !== '');
  return new Hl7Field(encoded.length > 0 ? encoded : [['']], CONTEXT);
}

/**
 * Builds a segment from its fields by HL7 sequence number (MSH-1 and MSH-2 are supplied).
 * Trailing empty fields, components and sub-components are left out, as the guide asks.
 */
export function segment(name: string, fields: Readonly<Record<number, FieldValue>>): Hl7Segment {
  const isMsh = name === 'MSH';
  const positions = Object.keys(fields).map(Number);
  const max = Math.max(0, ...positions);
  const out: Hl7Field[] = [new Hl7Field([[name]], CONTEXT)];
  if (isMsh) out.push(new Hl7Field([[CONTEXT.getMsh2()]], CONTEXT));
  for (let seq = isMsh ? 3 : 1; seq <= max; seq++) {
    const value = fields[seq];
    out.push(value === undefined ? new Hl7Field([['']], CONTEXT) : encodeField(value));
  }
  return new Hl7Segment(
    trimEnd(out, (f) => f.toString() === ''),
    CONTEXT,
  );
}

/** Serialises segments with the CR segment terminator. */
export function serialise(segments: readonly Hl7Segment[]): string {
  return new Hl7Message([...segments], CONTEXT).toString();
}

/** Read access to one parsed segment; every value is unescaped with the message's own delimiters. */
export class SegmentReader {
  constructor(readonly segment: Hl7Segment) {}

  get name(): string {
    return this.segment.name;
  }

  /** Number of repetitions of a field (0 when absent or empty). */
  repetitions(field: number): number {
    const f = this.segment.getField(field);
    if (!f) return 0;
    return f.components.length === 1 && f.toString() === '' ? 0 : f.components.length;
  }

  /** Text of field[rep].component[.sub] (all 1-based except rep, which is 0-based); '' when absent. */
  get(field: number, component = 1, rep = 0, sub?: number): string {
    const f = this.segment.getField(field);
    if (!f || rep >= f.components.length) return '';
    const raw = f.getComponent(component, sub === undefined ? undefined : sub - 1, rep);
    return unescapeHl7(raw, this.segment.context);
  }

  /** Like {@link get}, undefined instead of ''. */
  opt(field: number, component = 1, rep = 0, sub?: number): string | undefined {
    return this.get(field, component, rep, sub) || undefined;
  }

  /** Components of one repetition, unescaped, without trailing empties. */
  components(field: number, rep = 0): string[] {
    const f = this.segment.getField(field);
    const raw = f?.components[rep] ?? [];
    return trimEnd(
      raw.map((c) => unescapeHl7(c, this.segment.context)),
      (c) => c === '',
    );
  }
}
