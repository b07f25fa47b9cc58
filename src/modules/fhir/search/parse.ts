import { errors } from '../../../platform/http/errors.js';
import type { SearchParam, SearchParameterRegistry } from '../definitions/search-parameters.js';
import type { Query } from '../http/request.js';

export type Criterion =
  | { kind: 'param'; param: SearchParam; modifier?: string; values: string[] }
  | { kind: 'id'; values: string[]; not: boolean }
  | { kind: 'lastUpdated'; values: string[] }
  | { kind: 'chain'; param: SearchParam; targetTypes: string[]; inner: Criterion }
  | { kind: 'has'; sourceType: string; referenceCode: string; inner: Criterion };

export interface SortKey {
  code: string;
  descending: boolean;
  param?: SearchParam;
}

export interface IncludeSpec {
  sourceType: string;
  code: string;
  targetType?: string;
  iterate: boolean;
}

export interface SearchRequest {
  resourceType: string;
  criteria: Criterion[];
  count: number;
  sort: SortKey[];
  total?: 'none' | 'estimate' | 'accurate';
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  cursor?: string;
  /** Parameters ignored under lenient handling (reported back). */
  ignored: string[];
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Result-shaping parameters: read by the routes, not criteria. */
const RESULT_PARAMS = new Set([
  '_summary',
  '_elements',
  '_format',
  '_pretty',
  '_contained',
  '_containedType',
]);

const MODIFIERS: Record<string, string[]> = {
  string: ['exact', 'contains', 'missing'],
  token: ['text', 'not', 'missing'],
  reference: ['missing', 'identifier'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  uri: ['below', 'above', 'missing'],
  composite: ['missing'],
};

function asList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Splits a comma-separated OR list, keeping `\,` as a literal comma. */
export function splitValues(value: string): string[] {
  return value.split(/(?<!\\),/).map((v) => v.replace(/\\,/g, ','));
}

class Unknown extends Error {}

function paramCriterion(
  registry: SearchParameterRegistry,
  type: string,
  name: string,
  value: string,
): Criterion {
  if (name.startsWith('_has:')) {
    const [, sourceType, referenceCode, ...rest] = name.split(':');
    const innerName = rest.join(':');
    if (!sourceType || !referenceCode || !innerName || !registry.hasType(sourceType)) {
      throw errors.badRequest(`_has needs _has:Type:reference:parameter (got ${name})`);
    }
    const ref = registry.get(sourceType, referenceCode);
    if (ref?.type !== 'reference') throw new Unknown(name);
    return {
      kind: 'has',
      sourceType,
      referenceCode,
      inner: paramCriterion(registry, sourceType, innerName, value),
    };
  }
  const dot = name.indexOf('.');
  if (dot > 0) {
    const [head, modifier] = name.slice(0, dot).split(':') as [string, string | undefined];
    const param = registry.get(type, head);
    if (param?.type !== 'reference') throw new Unknown(name);
    const targetTypes = modifier ? [modifier] : param.target;
    const innerName = name.slice(dot + 1);
    if (innerName.includes('.')) throw errors.badRequest('only one level of chaining is supported');
    const usable = targetTypes.filter((t) => registry.get(t, innerName.split(':')[0] ?? ''));
    const first = usable[0];
    if (!first) throw new Unknown(name);
    return {
      kind: 'chain',
      param,
      targetTypes: usable,
      inner: paramCriterion(registry, first, innerName, value),
    };
  }
  const [code, modifier] = name.split(':') as [string, string | undefined];
  if (code === '_id') return { kind: 'id', values: splitValues(value), not: modifier === 'not' };
  if (code === '_lastUpdated') return { kind: 'lastUpdated', values: splitValues(value) };
  const param = registry.get(type, code);
  if (!param) throw new Unknown(name);
  if (modifier !== undefined) {
    const typeModifier =
      param.type === 'reference' && (param.target.includes(modifier) || registry.hasType(modifier));
    if (!typeModifier && !MODIFIERS[param.type]?.includes(modifier)) {
      throw errors.badRequest(`modifier :${modifier} is not supported on ${param.type} parameter ${code}`);
    }
  }
  return {
    kind: 'param',
    param,
    ...(modifier !== undefined ? { modifier } : {}),
    values: splitValues(value),
  };
}

function parseInclude(registry: SearchParameterRegistry, raw: string, iterate: boolean): IncludeSpec {
  const [sourceType, code, targetType] = raw.split(':');
  const param = sourceType && code ? registry.get(sourceType, code) : undefined;
  if (!sourceType || !code || param?.type !== 'reference') {
    throw errors.badRequest(`_include/_revinclude must be Type:referenceParameter[:TargetType] (got ${raw})`);
  }
  return { sourceType, code, ...(targetType ? { targetType } : {}), iterate };
}

function parseCount(value: string | undefined): number {
  if (value === undefined) return DEFAULT_COUNT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw errors.badRequest('_count must be a whole number');
  return Math.min(n, MAX_COUNT);
}

/**
 * Turns query parameters into a search request for `type`. Unknown parameters are errors under
 * `handling=strict` and are ignored (and reported) otherwise.
 */
export function parseSearch(
  registry: SearchParameterRegistry,
  type: string,
  query: Query,
  strict: boolean,
): SearchRequest {
  const request: SearchRequest = {
    resourceType: type,
    criteria: [],
    count: DEFAULT_COUNT,
    sort: [],
    include: [],
    revinclude: [],
    ignored: [],
  };
  for (const [name, raw] of Object.entries(query)) {
    const values = asList(raw);
    const last = values[values.length - 1];
    if (RESULT_PARAMS.has(name)) continue;
    switch (name) {
      case '_count':
        request.count = parseCount(last);
        continue;
      case '_cursor':
        request.cursor = last;
        continue;
      case '_total':
        if (last !== 'none' && last !== 'estimate' && last !== 'accurate')
          throw errors.badRequest('_total must be none, estimate or accurate');
        request.total = last;
        continue;
      case '_sort':
        request.sort = values.flatMap(splitValues).map((key) => {
          const descending = key.startsWith('-');
          const code = descending ? key.slice(1) : key;
          const param = registry.get(type, code);
          if (!param && code !== '_id' && code !== '_lastUpdated')
            throw errors.badRequest(`cannot sort by ${code}`);
          return { code, descending, ...(param ? { param } : {}) };
        });
        continue;
      case '_include':
      case '_include:iterate':
      case '_revinclude':
      case '_revinclude:iterate': {
        const specs = values.map((v) => parseInclude(registry, v, name.endsWith(':iterate')));
        (name.startsWith('_include') ? request.include : request.revinclude).push(...specs);
        continue;
      }
    }
    for (const value of values) {
      try {
        request.criteria.push(paramCriterion(registry, type, name, value));
      } catch (error) {
        if (!(error instanceof Unknown)) throw error;
        if (strict) throw errors.badRequest(`unknown search parameter ${name} for ${type}`);
        if (!request.ignored.includes(name)) request.ignored.push(name);
      }
    }
  }
  return request;
}
