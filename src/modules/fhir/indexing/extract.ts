import type { Resource } from 'fhir/r4.js';
import type { BlindIndex } from '../crypto.js';
import { normalizeString } from '../crypto.js';
import { patientCompartmentParams } from '../definitions/compartment.js';
import type { SearchParam, SearchParameterRegistry, TypedValue } from '../definitions/search-parameters.js';
import { parseDateRange } from './dates.js';
import { identifying, isBirthDate, PREFIX_MAX } from './policy.js';
import { parseReference } from './references.js';

export interface TokenRow {
  code: string;
  /** The element a composite parameter's part came from (see `grp` in schema.ts). */
  grp?: number;
  system: string | null;
  value: string | null;
  blinded: boolean;
  text: string | null;
}
export interface StringRow {
  code: string;
  /** The element a composite parameter's part came from (see `grp` in schema.ts). */
  grp?: number;
  value: string | null;
  exact: string;
  blinded: boolean;
}
export interface DateRow {
  code: string;
  /** The element a composite parameter's part came from (see `grp` in schema.ts). */
  grp?: number;
  low: Date;
  high: Date;
  dayBlind: string | null;
}
export interface ReferenceRow {
  code: string;
  /** The element a composite parameter's part came from (see `grp` in schema.ts). */
  grp?: number;
  targetType: string | null;
  targetId: string | null;
  reference: string;
}
export interface QuantityRow {
  code: string;
  /** The element a composite parameter's part came from (see `grp` in schema.ts). */
  grp?: number;
  value: string | null;
  system: string | null;
  unit: string | null;
}

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  prefix: Array<{ code: string; prefix: string }>;
  date: DateRow[];
  reference: ReferenceRow[];
  quantity: QuantityRow[];
  number: Array<{ code: string; value: string; grp?: number }>;
  uri: Array<{ code: string; value: string; grp?: number }>;
  /** Patients whose compartment holds the resource. */
  patients: string[];
  /** Patient.managingOrganization (organization scoping). */
  organizationId: string | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

function stringParts(v: TypedValue): string[] {
  const value = v.value;
  if (typeof value === 'string') return [value];
  if (!isObj(value)) return value === null || value === undefined ? [] : [String(value)];
  if (v.type === 'FHIR.HumanName') {
    return [value.text, value.family, value.given, value.prefix, value.suffix]
      .flat()
      .flatMap((p) => (str(p) ? [p as string] : []));
  }
  if (v.type === 'FHIR.Address') {
    return [value.text, value.line, value.city, value.district, value.state, value.postalCode, value.country]
      .flat()
      .flatMap((p) => (str(p) ? [p as string] : []));
  }
  return Object.values(value).flatMap((p) => (typeof p === 'string' ? [p] : []));
}

interface Token {
  system: string | null;
  value: string | null;
  text: string | null;
  blind: boolean;
}

function tokens(v: TypedValue): Token[] {
  const value = v.value;
  if (typeof value === 'boolean') return [{ system: null, value: String(value), text: null, blind: false }];
  if (typeof value === 'string' || typeof value === 'number')
    return [{ system: null, value: String(value), text: null, blind: false }];
  if (!isObj(value)) return [];
  if (v.type === 'FHIR.CodeableConcept' || Array.isArray(value.coding)) {
    const text = str(value.text);
    const codings = (Array.isArray(value.coding) ? value.coding : []).filter(isObj);
    const out = codings.map((c) => ({
      system: str(c.system),
      value: str(c.code),
      text: str(c.display) ?? text,
      blind: false,
    }));
    if (out.length === 0 && text) out.push({ system: null, value: null, text, blind: false });
    return out;
  }
  if (v.type === 'FHIR.Identifier')
    return [{ system: str(value.system), value: str(value.value), text: null, blind: true }];
  if (v.type === 'FHIR.ContactPoint')
    return [{ system: null, value: str(value.value), text: null, blind: true }];
  if ('code' in value || 'system' in value)
    return [{ system: str(value.system), value: str(value.code), text: str(value.display), blind: false }];
  return [];
}

function dateRange(v: TypedValue): { low: Date; high: Date } | null {
  const value = v.value;
  if (typeof value === 'string') return parseDateRange(value);
  if (!isObj(value)) return null;
  if (v.type === 'FHIR.Period' || 'start' in value || 'end' in value) {
    const start = str(value.start) ? parseDateRange(value.start as string) : null;
    const end = str(value.end) ? parseDateRange(value.end as string) : null;
    if (!start && !end) return null;
    return {
      low: start?.low ?? new Date(-8.64e15),
      high: end?.high ?? new Date(8.64e15),
    };
  }
  if (v.type === 'FHIR.Timing' && Array.isArray(value.event)) {
    const ranges = value.event
      .flatMap((e) => (typeof e === 'string' ? [parseDateRange(e)] : []))
      .filter((r) => r);
    if (ranges.length === 0) return null;
    return {
      low: new Date(Math.min(...ranges.map((r) => r!.low.getTime()))),
      high: new Date(Math.max(...ranges.map((r) => r!.high.getTime()))),
    };
  }
  return null;
}

/** Computes every index row of one resource version from the official search parameters. */
export function extractIndex(
  resource: Resource,
  registry: SearchParameterRegistry,
  blind: BlindIndex,
): IndexRows {
  const rows = emptyRows();
  const type = resource.resourceType;
  for (const param of registry.forType(type)) {
    if (param.code === '_id' || param.code === '_lastUpdated') continue;
    if (param.groups && param.components) {
      addGroups(rows, type, param.components, param.groups(resource), blind);
      continue;
    }
    const values = param.evaluate(resource);
    if (values.length > 0) addRows(rows, type, param, values, blind);
  }
  const compartment = new Set<string>();
  if (type === 'Patient' && resource.id) compartment.add(resource.id);
  for (const code of patientCompartmentParams(type)) {
    for (const ref of rows.reference)
      if (ref.code === code && ref.targetType === 'Patient' && ref.targetId) compartment.add(ref.targetId);
  }
  rows.patients = [...compartment];
  if (type === 'Patient') {
    const org = rows.reference.find((r) => r.code === 'organization' && r.targetType === 'Organization');
    rows.organizationId = org?.targetId ?? null;
  }
  return rows;
}

function emptyRows(): IndexRows {
  return {
    token: [],
    string: [],
    prefix: [],
    date: [],
    reference: [],
    quantity: [],
    number: [],
    uri: [],
    patients: [],
    organizationId: null,
  };
}

const GROUPED = ['token', 'string', 'date', 'reference', 'quantity', 'number', 'uri'] as const;

/**
 * A composite parameter's parts, one group per element it is taken over, each row stamped with
 * its group. A group missing a part is left out: a composite search names every part.
 */
function addGroups(
  rows: IndexRows,
  type: string,
  components: SearchParam[],
  groups: TypedValue[][][],
  blind: BlindIndex,
): void {
  let grp = 0;
  for (const group of groups) {
    const parts = components.map((component, i) => {
      const part = emptyRows();
      const values = group[i] ?? [];
      if (values.length > 0) addRows(part, type, component, values, blind);
      return part;
    });
    if (parts.some((part) => GROUPED.every((table) => part[table].length === 0))) continue;
    for (const part of parts) {
      for (const table of GROUPED) {
        for (const row of part[table]) (rows[table] as Array<{ grp?: number }>).push({ ...row, grp });
      }
    }
    grp++;
  }
}

function addRows(
  rows: IndexRows,
  type: string,
  param: SearchParam,
  values: TypedValue[],
  blind: BlindIndex,
): void {
  const { code } = param;
  const secret = identifying(type, param);
  switch (param.type) {
    case 'string': {
      const seen = new Set<string>();
      for (const part of values.flatMap(stringParts)) {
        const normalized = normalizeString(part);
        if (!normalized || seen.has(part)) continue;
        seen.add(part);
        if (!secret) {
          rows.string.push({ code, value: normalized, exact: part, blinded: false });
          continue;
        }
        rows.string.push({ code, value: null, exact: blind.of(`s|${type}|${code}`, part), blinded: true });
        const chars = [...normalized];
        for (let n = 1; n <= Math.min(chars.length, PREFIX_MAX); n++) {
          rows.prefix.push({ code, prefix: blind.of(`p|${type}|${code}`, chars.slice(0, n).join('')) });
        }
      }
      break;
    }
    case 'token':
      for (const t of values.flatMap(tokens)) {
        const hide = t.blind || secret;
        rows.token.push({
          code,
          system: t.system,
          value: t.value === null ? null : hide ? blind.of(`t|${type}|${code}`, t.value) : t.value,
          blinded: hide,
          text: hide || !t.text ? null : normalizeString(t.text),
        });
      }
      break;
    case 'date':
      for (const v of values) {
        const range = dateRange(v);
        if (!range) continue;
        if (isBirthDate(type, param) && typeof v.value === 'string') {
          // Only the year is stored in plain; the exact day is a blind index (see docs/fhir.md).
          const year = range.low.getUTCFullYear();
          rows.date.push({
            code,
            low: new Date(Date.UTC(year, 0, 1)),
            high: new Date(Date.UTC(year + 1, 0, 1) - 1),
            dayBlind: v.value.length === 10 ? blind.of(`d|${type}|${code}`, v.value) : null,
          });
        } else {
          rows.date.push({ code, low: range.low, high: range.high, dayBlind: null });
        }
      }
      break;
    case 'reference':
      for (const v of values) {
        if (typeof v.value === 'string') {
          rows.reference.push({ code, ...parseReference(v.value), reference: v.value });
          continue;
        }
        if (!isObj(v.value)) continue;
        const ref = str(v.value.reference);
        if (ref) rows.reference.push({ code, ...parseReference(ref), reference: ref });
        const identifier = v.value.identifier;
        if (isObj(identifier) && str(identifier.value)) {
          rows.token.push({
            code: `${code}:identifier`,
            system: str(identifier.system),
            value: blind.of(`t|${type}|${code}:identifier`, identifier.value as string),
            blinded: true,
            text: null,
          });
        }
      }
      break;
    case 'quantity':
      for (const v of values) {
        if (!isObj(v.value) || typeof v.value.value !== 'number') continue;
        rows.quantity.push({
          code,
          value: String(v.value.value),
          system: str(v.value.system),
          unit: str(v.value.code) ?? str(v.value.unit) ?? str(v.value.currency),
        });
      }
      break;
    case 'number':
      for (const v of values)
        if (typeof v.value === 'number') rows.number.push({ code, value: String(v.value) });
      break;
    case 'uri':
      for (const v of values) if (typeof v.value === 'string') rows.uri.push({ code, value: v.value });
      break;
    case 'special':
      // `near`: the WGS84 position as two numbers (searched in search/near.ts).
      for (const v of values) {
        if (!isObj(v.value)) continue;
        const { latitude, longitude } = v.value;
        if (typeof latitude !== 'number' || typeof longitude !== 'number') continue;
        rows.number.push({ code: `${code}$latitude`, value: String(latitude) });
        rows.number.push({ code: `${code}$longitude`, value: String(longitude) });
      }
      break;
  }
}
