import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';

export const CVX_SYSTEM = 'http://hl7.org/fhir/sid/cvx';
export const MVX_SYSTEM = 'http://hl7.org/fhir/sid/mvx';

export interface CodeEntry {
  code: string;
  display: string;
  definition?: string;
  status: string;
}

/** Same relative depth from src/ (tsx) and dist/ (tsc output) to the repository root. */
const CDC_DIR = fileURLToPath(new URL('../../../../reference-data/cdc/', import.meta.url));
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true });

type XmlRecord = Record<string, unknown>;
const list = (v: unknown): XmlRecord[] => (Array.isArray(v) ? v : v ? [v] : []) as XmlRecord[];
const text = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');

function readCvx(): Map<string, CodeEntry> {
  // The CDC publishes cvx.xml in ISO-8859-1.
  const doc = parser.parse(readFileSync(`${CDC_DIR}cvx.xml`, 'latin1')) as XmlRecord;
  const root = doc.CVXCodes as XmlRecord | undefined;
  const entries = list(root?.CVXInfo).map((r) => ({
    code: text(r.CVXCode),
    display: text(r.ShortDescription),
    definition: text(r.FullVaccinename) || undefined,
    status: text(r.Status),
  }));
  return new Map(entries.filter((e) => e.code).map((e) => [e.code, e]));
}

function readMvx(): Map<string, CodeEntry> {
  const doc = parser.parse(readFileSync(`${CDC_DIR}mvx.xml`, 'utf8')) as XmlRecord;
  const root = doc.MVXCodes as XmlRecord | undefined;
  const entries = list(root?.MVXInfo).map((r) => {
    // Each record is a flat list of Name/Value pairs.
    const names = list(r.Name).map(text);
    const values = list(r.Value).map(text);
    const field = (name: string) => values[names.indexOf(name)] ?? '';
    return { code: field('MVX_CODE'), display: field('Manufacturer Name'), status: field('Status') };
  });
  return new Map(entries.filter((e) => e.code).map((e) => [e.code, e]));
}

let cvx: Map<string, CodeEntry> | undefined;
let mvx: Map<string, CodeEntry> | undefined;

/** CVX vaccine codes from the CDC file shipped in reference-data/cdc. */
export function cvxCodes(): Map<string, CodeEntry> {
  cvx ??= readCvx();
  return cvx;
}

/** MVX manufacturer codes from the CDC file shipped in reference-data/cdc. */
export function mvxCodes(): Map<string, CodeEntry> {
  mvx ??= readMvx();
  return mvx;
}
