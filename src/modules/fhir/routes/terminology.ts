import type { FastifyRequest } from 'fastify';
import type { Parameters, ParametersParameter, ValueSet } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors, IrisError } from '../../../platform/http/errors.js';
import { guardFor, type Query } from '../http/request.js';
import { CVX_SYSTEM, cvxCodes, MVX_SYSTEM, mvxCodes, type CodeEntry } from '../terminology/cdc-codes.js';
import {
  coreValueSetConcepts,
  findCoreCodeSystem,
  lookupCoreConcept,
  type CoreConcept,
  type CoreValueSetConcepts,
} from '../terminology/core-valuesets.js';
import type { RouteDeps } from './common.js';

/** Value sets of all CVX and all MVX codes (the `?vs` implicit value sets of the systems). */
export const CVX_VALUESET = 'http://iris.health/fhir/ValueSet/cvx';
export const MVX_VALUESET = 'http://iris.health/fhir/ValueSet/mvx';

const MAX_COUNT = 1000;
const SERVED = 'CVX, MVX and the core R4 code systems and value sets are';

type Params = Record<string, string>;

interface CdcSystem {
  system: string;
  codes: Map<string, CodeEntry>;
  /** The codes as expansion entries; CVX search text includes the full vaccine name. */
  entries: CoreConcept[];
}

const cdcCache = new Map<string, CdcSystem>();

function cdcSystem(system: string, codes: () => Map<string, CodeEntry>): CdcSystem {
  let cached = cdcCache.get(system);
  if (!cached) {
    const all = codes();
    const entries = [...all.values()].map((e) => ({
      system,
      code: e.code,
      display: e.display,
      search: `${e.code} ${e.display} ${e.definition ?? ''}`.toLowerCase(),
    }));
    cached = { system, codes: all, entries };
    cdcCache.set(system, cached);
  }
  return cached;
}

function systemCodes(uri: string | undefined): CdcSystem | undefined {
  const url = uri?.replace(/\?vs$/, '');
  if (url === CVX_SYSTEM || url === CVX_VALUESET) return cdcSystem(CVX_SYSTEM, cvxCodes);
  if (url === MVX_SYSTEM || url === MVX_VALUESET) return cdcSystem(MVX_SYSTEM, mvxCodes);
  return undefined;
}

function params(request: FastifyRequest): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries((request.query ?? {}) as Query)) {
    const value = Array.isArray(v) ? v[v.length - 1] : v;
    if (value !== undefined) out[k] = value;
  }
  const body = request.body as Parameters | undefined;
  for (const p of body?.resourceType === 'Parameters' ? (body.parameter ?? []) : []) {
    const value =
      p.valueUri ?? p.valueCode ?? p.valueString ?? p.valueInteger?.toString() ?? p.valueCoding?.code;
    if (value !== undefined) out[p.name] = value;
    if (p.valueCoding?.system) out.system = p.valueCoding.system;
    if (p.valueCoding?.display) out.display = p.valueCoding.display;
  }
  return out;
}

function result(parameter: ParametersParameter[]): Parameters {
  return { resourceType: 'Parameters', parameter };
}

/** A value set we know but cannot list: `not-supported`, as the failure is ours, not the size. */
function notEnumerable(url: string, reason: string): IrisError {
  const def = errors.unprocessable.definition;
  return new IrisError(
    def.code,
    def.status,
    def.title,
    `value set ${url} cannot be expanded here: ${reason}`,
    'not-supported',
  );
}

function coreExpansion(url: string): CoreValueSetConcepts | undefined {
  const found = coreValueSetConcepts(url);
  if (found.kind === 'not-enumerable') throw notEnumerable(url, found.reason);
  return found.kind === 'enumerated' ? found.expansion : undefined;
}

function lookup(p: Params): Parameters {
  const cs = systemCodes(p.system);
  if (cs) {
    const entry = p.code ? cs.codes.get(p.code) : undefined;
    if (!entry) throw errors.notFound(`${p.code ?? '(none)'} is not a code of ${cs.system}`);
    return result([
      { name: 'name', valueString: cs.system === CVX_SYSTEM ? 'CVX' : 'MVX' },
      { name: 'display', valueString: entry.display },
      ...(entry.definition ? [{ name: 'definition', valueString: entry.definition }] : []),
      {
        name: 'property',
        part: [
          { name: 'code', valueCode: 'status' },
          { name: 'value', valueString: entry.status },
        ],
      },
    ]);
  }
  const core = p.system ? findCoreCodeSystem(p.system) : undefined;
  if (!core || !p.system)
    throw errors.notFound(`code system ${p.system ?? '(none)'} is not served here (${SERVED})`);
  const concept = p.code ? lookupCoreConcept(p.system, p.code) : undefined;
  if (!concept) throw errors.notFound(`${p.code ?? '(none)'} is not a code of ${p.system}`);
  return result([
    { name: 'name', valueString: core.name ?? core.title ?? p.system },
    ...(core.version ? [{ name: 'version', valueString: core.version }] : []),
    { name: 'display', valueString: concept.display ?? concept.code },
    ...(concept.definition ? [{ name: 'definition', valueString: concept.definition }] : []),
    ...(concept.parent
      ? [
          {
            name: 'property',
            part: [
              { name: 'code', valueCode: 'parent' },
              { name: 'value', valueCode: concept.parent },
            ],
          },
        ]
      : []),
  ]);
}

function validateCdc(cs: CdcSystem, p: Params): Parameters {
  if (p.system && p.system !== cs.system) {
    return result([
      { name: 'result', valueBoolean: false },
      { name: 'message', valueString: `system ${p.system} is not ${cs.system}` },
    ]);
  }
  const entry = p.code ? cs.codes.get(p.code) : undefined;
  return result(
    entry
      ? [
          { name: 'result', valueBoolean: true },
          { name: 'display', valueString: entry.display },
        ]
      : [
          { name: 'result', valueBoolean: false },
          { name: 'message', valueString: `${p.code ?? '(none)'} is not a code of ${cs.system}` },
        ],
  );
}

const sameDisplay = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** A found code is valid; a display that differs is only a warning, as the spec allows. */
function valid(display: string | undefined, given: string | undefined): Parameters {
  const warning =
    given !== undefined && display !== undefined && !sameDisplay(given, display)
      ? [{ name: 'message', valueString: `display "${given}" does not match the expected "${display}"` }]
      : [];
  return result([
    { name: 'result', valueBoolean: true },
    ...(display ? [{ name: 'display', valueString: display }] : []),
    ...warning,
  ]);
}

const invalid = (message: string): Parameters =>
  result([
    { name: 'result', valueBoolean: false },
    { name: 'message', valueString: message },
  ]);

function validateInValueSet(url: string, vs: CoreValueSetConcepts, p: Params): Parameters {
  if (!p.code) throw errors.badRequest('$validate-code needs a code');
  if (p.system && !vs.systems.has(p.system)) {
    return invalid(`system ${p.system} is not used by value set ${url}`);
  }
  const match = (vs.byCode.get(p.code) ?? []).find((c) => !p.system || c.system === p.system);
  if (!match) return invalid(`${p.code} is not in value set ${url}`);
  return valid(match.display, p.display);
}

function validateInCodeSystem(system: string, p: Params): Parameters {
  const cs = findCoreCodeSystem(system);
  if (!cs) throw errors.notFound(`code system ${system} is not served here (${SERVED})`);
  if (!p.code) throw errors.badRequest('$validate-code needs a code');
  if (p.system && p.url && p.system !== p.url) return invalid(`system ${p.system} is not ${p.url}`);
  const concept = lookupCoreConcept(system, p.code);
  if (!concept) {
    const partial = cs.content === 'complete' ? '' : ` (only part of it is defined here: ${cs.content})`;
    return invalid(`${p.code} is not a code of ${system}${partial}`);
  }
  return valid(concept.display, p.display);
}

function validateCode(kind: 'CodeSystem' | 'ValueSet', p: Params): Parameters {
  const cdc = systemCodes(p.url ?? p.system);
  if (cdc) return validateCdc(cdc, p);
  if (kind === 'ValueSet' && p.url) {
    const vs = coreExpansion(p.url);
    if (!vs) throw errors.notFound(`value set ${p.url} is not served here (${SERVED})`);
    return validateInValueSet(p.url, vs, p);
  }
  const system = p.url ?? p.system;
  if (!system) throw errors.badRequest('$validate-code needs a url or a system');
  return validateInCodeSystem(system, p);
}

function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw errors.badRequest(`${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

function expand(p: Params): ValueSet {
  const cdc = systemCodes(p.url);
  const core = cdc ? undefined : p.url ? coreExpansion(p.url) : undefined;
  if (!cdc && !core) throw errors.notFound(`value set ${p.url ?? '(none)'} is not served here (${SERVED})`);
  const entries = cdc?.entries ?? core?.concepts ?? [];
  const count = Math.min(nonNegativeInt('count', p.count, MAX_COUNT), MAX_COUNT);
  const offset = nonNegativeInt('offset', p.offset, 0);
  const words = (p.filter ?? '')
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w.length > 0);
  const matches = words.length ? entries.filter((e) => words.every((w) => e.search.includes(w))) : entries;
  const source = core?.valueSet;
  return {
    resourceType: 'ValueSet',
    url: cdc ? (cdc.system === CVX_SYSTEM ? CVX_VALUESET : MVX_VALUESET) : (source?.url ?? p.url),
    ...(source?.version ? { version: source.version } : {}),
    ...(source?.name ? { name: source.name } : {}),
    status: source?.status ?? 'active',
    expansion: {
      timestamp: new Date().toISOString(),
      total: matches.length,
      offset,
      parameter: [
        ...(words.length ? [{ name: 'filter', valueString: p.filter }] : []),
        { name: 'count', valueInteger: count },
        { name: 'offset', valueInteger: offset },
      ],
      ...(count > 0
        ? {
            contains: matches.slice(offset, offset + count).map((e) => ({
              system: e.system,
              code: e.code,
              ...(e.display ? { display: e.display } : {}),
            })),
          }
        : {}),
    },
  };
}

/**
 * $lookup, $validate-code and $expand (with `filter`, for typeahead) over CVX, MVX and the
 * enumerable core R4 code systems and value sets.
 */
export function registerTerminology({ app, access, caps }: RouteDeps): void {
  caps.operations.set('lookup', { type: true, types: ['CodeSystem'] });
  caps.operations.set('validate-code', { type: true, types: ['CodeSystem', 'ValueSet'] });
  caps.operations.set('expand', { type: true, types: ['ValueSet'] });
  const routes: Array<[string, (p: Params) => object]> = [
    ['/fhir/CodeSystem/$lookup', lookup],
    ['/fhir/CodeSystem/$validate-code', (p) => validateCode('CodeSystem', p)],
    ['/fhir/ValueSet/$validate-code', (p) => validateCode('ValueSet', p)],
    ['/fhir/ValueSet/$expand', expand],
  ];
  for (const [url, op] of routes) {
    const options = {
      preHandler: guardFor(access, 'read', url.includes('ValueSet') ? 'ValueSet' : 'CodeSystem'),
      schema: { hide: true },
    };
    app.get(url, options, async (request, reply) => reply.type(FHIR_JSON).send(op(params(request))));
    app.post(url, options, async (request, reply) => reply.type(FHIR_JSON).send(op(params(request))));
  }
}
