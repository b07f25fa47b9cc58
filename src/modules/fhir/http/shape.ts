import type { Resource } from 'fhir/r4.js';
import { errors } from '../../../platform/http/errors.js';
import { requiredElementsOf, summaryElementsOf } from '../definitions/structure.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

export function parseSummary(value: unknown): SummaryMode | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && ['true', 'text', 'data', 'count', 'false'].includes(value)) {
    return value as SummaryMode;
  }
  throw errors.badRequest('_summary must be true, text, data, count or false');
}

export function parseElements(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(','));
  return list.map((e) => e.trim()).filter((e) => e.length > 0);
}

function elementName(key: string, resourceType: string): string {
  // Choice elements are stored as e.g. `valueQuantity`; the definitions name them `value`.
  const choice = /^([a-z]+)[A-Z]/.exec(key)?.[1];
  return choice && summaryElementsOf(resourceType).has(choice) ? choice : key;
}

function tagged(resource: Resource): Resource {
  const tags = resource.meta?.tag ?? [];
  return { ...resource, meta: { ...resource.meta, tag: [...tags, SUBSETTED] } };
}

/** Applies `_summary` and `_elements` (top-level elements) to a resource about to be returned. */
export function shapeResource(resource: Resource, summary?: SummaryMode, elements?: string[]): Resource {
  const type = resource.resourceType;
  const source = resource as unknown as Record<string, unknown>;
  if (summary && summary !== 'false' && summary !== 'count') {
    const keep = (key: string): boolean => {
      if (ALWAYS.has(key)) return true;
      if (summary === 'data') return key !== 'text';
      if (summary === 'text') return key === 'text' || requiredElementsOf(type).has(elementName(key, type));
      return summaryElementsOf(type).has(elementName(key, type));
    };
    return tagged(Object.fromEntries(Object.entries(source).filter(([k]) => keep(k))) as unknown as Resource);
  }
  if (elements && elements.length > 0) {
    const wanted = new Set(elements.map((e) => e.replace(new RegExp(`^${type}\\.`), '').split('.')[0]));
    const keep = (key: string) =>
      ALWAYS.has(key) ||
      wanted.has(key) ||
      wanted.has(elementName(key, type)) ||
      requiredElementsOf(type).has(key);
    return tagged(Object.fromEntries(Object.entries(source).filter(([k]) => keep(k))) as unknown as Resource);
  }
  return resource;
}
