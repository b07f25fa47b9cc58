import { escapeHl7 } from './escape.js';

/** One field built from components; each component is escaped, trailing empty ones dropped. */
export function comp(...parts: (string | undefined)[]): string {
  const escaped = parts.map((p) => (p ? escapeHl7(p) : ''));
  while (escaped.length > 0 && escaped[escaped.length - 1] === '') escaped.pop();
  return escaped.join('^');
}

/** One segment from already-built fields; trailing empty fields dropped. */
export function seg(name: string, ...fields: string[]): string {
  const out = [...fields];
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return [name, ...out].join('|');
}

/** HL7 DTM with seconds and zone offset, in UTC. */
export function hl7Now(now = new Date()): string {
  return `${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

/** YYYYMMDD of a date, in UTC. */
export function hl7Date(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** Parses the date part of an HL7 DT/DTM value; undefined when it is not a real date. */
export function parseHl7Date(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return hl7Date(date) === value.slice(0, 8) ? date : undefined;
}

/** True for a well-formed HL7 DT/DTM: YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ] with a real calendar date. */
export function isHl7DateTime(value: string): boolean {
  if (!/^\d{8}(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?([+-]\d{4})?$/.test(value)) return false;
  return parseHl7Date(value) !== undefined;
}

let counter = 0;

/** A fresh message control id for messages the simulator sends. */
export function newControlId(): string {
  counter = (counter + 1) % 1_000_000;
  return `SIM${Date.now().toString(36).toUpperCase()}${counter.toString().padStart(6, '0')}`;
}
