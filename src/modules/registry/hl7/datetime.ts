import { Hl7BuildError, Hl7ParseError } from './errors.js';

const FHIR_DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const HL7_TS = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(?:(\d{2})(\.\d{1,4})?)?)?([+-]\d{4})?$/;

/**
 * FHIR date, dateTime or instant → HL7 TS (YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ]). The local time
 * and offset are kept as written, so the registry sees the clinic's wall-clock time.
 */
export function fhirToHl7Ts(value: string): string {
  const m = FHIR_DATE_TIME.exec(value);
  if (!m) throw new Hl7BuildError(`not a FHIR date or dateTime: "${value}"`);
  const [, year, month = '', day = '', hour, minute, second, fraction = '', zone] = m;
  let ts = `${year}${month}${day}`;
  if (hour !== undefined) {
    ts += `${hour}${minute}${second ?? '00'}${fraction.slice(0, 5)}`;
    ts += zone === undefined || zone === 'Z' ? '+0000' : zone.replace(':', '');
  }
  return ts;
}

/** FHIR date or dateTime → HL7 date (YYYY[MM[DD]]), dropping any time. */
export function fhirToHl7Date(value: string): string {
  return fhirToHl7Ts(value).slice(0, 8);
}

/** An instant → HL7 TS to the second in UTC (MSH-7). */
export function instantToHl7Ts(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new Hl7BuildError('invalid timestamp');
  return `${date.toISOString().slice(0, 19).replace(/[-T:]/g, '')}+0000`;
}

export interface Hl7TsOptions {
  /** Offset (e.g. "-0500") assumed when a TS with a time has none; without it such a TS keeps only its date. */
  defaultOffset?: string;
}

/**
 * HL7 TS → FHIR date (when the TS has no time) or dateTime. FHIR requires an offset with a
 * time, so a time without one is dropped unless a default offset is given: guessing would
 * silently shift the dose by hours.
 */
export function hl7TsToFhir(ts: string, options: Hl7TsOptions = {}): string {
  if (options.defaultOffset !== undefined && !/^[+-]\d{4}$/.test(options.defaultOffset)) {
    throw new Hl7ParseError(`not an HL7 time zone offset: "${options.defaultOffset}"`);
  }
  const m = HL7_TS.exec(ts.trim());
  if (!m) throw new Hl7ParseError(`not an HL7 date/time: "${ts}"`);
  const [, year, month, day, hour, minute = '00', second = '00', fraction = '', zone] = m;
  let date = year as string;
  if (month !== undefined) date += `-${month}`;
  if (day !== undefined) date += `-${day}`;
  const offset = zone ?? options.defaultOffset;
  if (hour === undefined || day === undefined || offset === undefined) return date;
  return `${date}T${hour}:${minute}:${second}${fraction}${offset.slice(0, 3)}:${offset.slice(3)}`;
}

/** HL7 TS → FHIR date (YYYY[-MM[-DD]]), ignoring any time. */
export function hl7TsToFhirDate(ts: string): string {
  return hl7TsToFhir(ts).slice(0, 10);
}
