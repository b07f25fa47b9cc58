/**
 * Small helpers to read the parsed supporting-data XML with precise error messages. Every read
 * names the file and the element path, so a malformed data drop says exactly what is wrong.
 */
import { parseDate, parseDuration } from './dates.js';
import type { DayNumber, Duration } from './dates.js';

export type XmlNode = Record<string, unknown>;

export class SupportingDataError extends Error {
  constructor(
    readonly file: string,
    readonly element: string,
    detail: string,
  ) {
    super(`CDSi supporting data ${file}: <${element}>: ${detail}`);
    this.name = 'SupportingDataError';
  }
}

export class XmlReader {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly node: XmlNode,
  ) {}

  private fail(element: string, detail: string): never {
    throw new SupportingDataError(this.file, `${this.path}/${element}`, detail);
  }

  /** Optional text; empty elements read as ''. */
  text(name: string): string {
    const value = this.node[name];
    if (value === undefined || value === null) return '';
    if (typeof value === 'string') return value.trim();
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (Array.isArray(value)) {
      // Some files repeat a scalar element (e.g. seriesAdminGuidance); the first is the one we use.
      const first: unknown = value[0];
      return typeof first === 'string' ? first.trim() : '';
    }
    return this.fail(name, 'expected text, found nested elements');
  }

  texts(name: string): string[] {
    const value = this.node[name];
    if (value === undefined || value === null) return [];
    const list: unknown[] = Array.isArray(value) ? value : [value];
    return list.map((v) => (typeof v === 'string' ? v.trim() : String(v))).filter((v) => v !== '');
  }

  required(name: string): string {
    const value = this.text(name);
    if (value === '') this.fail(name, 'required value is missing');
    return value;
  }

  duration(name: string): Duration | undefined {
    try {
      return parseDuration(this.text(name));
    } catch (err) {
      return this.fail(name, (err as Error).message);
    }
  }

  requiredDuration(name: string): Duration {
    const value = this.duration(name);
    if (!value) this.fail(name, 'required duration is missing');
    return value;
  }

  /** Dates appear as YYYYMMDD or MM/DD/YYYY in the CDC files. */
  date(name: string): DayNumber | undefined {
    const value = this.text(name);
    if (value === '') return undefined;
    const us = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
    try {
      return parseDate(us ? `${us[3]}-${us[1]}-${us[2]}` : value);
    } catch (err) {
      return this.fail(name, (err as Error).message);
    }
  }

  yesNo(name: string, fallback = false): boolean {
    const value = this.text(name).toLowerCase();
    if (value === '') return fallback;
    if (value === 'yes' || value === 'y') return true;
    if (value === 'no' || value === 'n') return false;
    return this.fail(name, `expected Yes/No or Y/N, found "${value}"`);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
    const value = this.text(name);
    if (value === '' && fallback !== undefined) return fallback;
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (match === undefined) this.fail(name, `expected one of ${allowed.join(', ')}, found "${value}"`);
    return match;
  }

  /** Child elements with content; empty placeholders such as <interval/> are skipped. */
  children(name: string): XmlReader[] {
    const value = this.node[name];
    if (value === undefined || value === null || value === '') return [];
    const list: unknown[] = Array.isArray(value) ? value : [value];
    const out: XmlReader[] = [];
    list.forEach((item, index) => {
      if (item === '' || item === undefined) return;
      if (typeof item !== 'object' || item === null) this.fail(name, 'expected nested elements');
      out.push(new XmlReader(this.file, `${this.path}/${name}[${index + 1}]`, item as XmlNode));
    });
    return out;
  }

  child(name: string): XmlReader | undefined {
    return this.children(name)[0];
  }

  requiredChild(name: string): XmlReader {
    const found = this.child(name);
    if (!found) this.fail(name, 'required element is missing');
    return found;
  }

  /** Splits "01;09; 20" style CVX lists; CVX codes are normalised to at least two digits. */
  cvxList(name: string): Set<string> | undefined {
    const value = this.text(name);
    if (value === '') return undefined;
    return new Set(
      value
        .split(/[;,]/)
        .map((v) => v.trim())
        .filter(Boolean)
        .map(normaliseCvx),
    );
  }
}

export function normaliseCvx(cvx: string): string {
  const trimmed = cvx.trim();
  return /^\d$/.test(trimmed) ? `0${trimmed}` : trimmed;
}
