import type { FastifyRequest } from 'fastify';
import type { Parameters, ValueSet } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import { guardFor, type Query } from '../http/request.js';
import { CVX_SYSTEM, cvxCodes, MVX_SYSTEM, mvxCodes, type CodeEntry } from '../terminology/cdc-codes.js';
import type { RouteDeps } from './common.js';

/** Value sets of all CVX and all MVX codes (the `?vs` implicit value sets of the systems). */
export const CVX_VALUESET = 'http://iris.health/fhir/ValueSet/cvx';
export const MVX_VALUESET = 'http://iris.health/fhir/ValueSet/mvx';

function systemCodes(uri: string | undefined): { system: string; codes: Map<string, CodeEntry> } | undefined {
  const url = uri?.replace(/\?vs$/, '');
  if (url === CVX_SYSTEM || url === CVX_VALUESET) return { system: CVX_SYSTEM, codes: cvxCodes() };
  if (url === MVX_SYSTEM || url === MVX_VALUESET) return { system: MVX_SYSTEM, codes: mvxCodes() };
  return undefined;
}

function params(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
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
  }
  return out;
}

function lookup(p: Record<string, string>): Parameters {
  const cs = systemCodes(p.system);
  if (!cs) throw errors.notFound(`code system ${p.system ?? '(none)'} is not served here (CVX and MVX are)`);
  const entry = p.code ? cs.codes.get(p.code) : undefined;
  if (!entry) throw errors.notFound(`${p.code ?? '(none)'} is not a code of ${cs.system}`);
  return {
    resourceType: 'Parameters',
    parameter: [
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
    ],
  };
}

function validateCode(p: Record<string, string>): Parameters {
  const cs = systemCodes(p.url ?? p.system);
  if (!cs) throw errors.notFound(`${p.url ?? p.system ?? '(none)'} is not served here (CVX and MVX are)`);
  if (p.system && p.system !== cs.system) {
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'result', valueBoolean: false },
        { name: 'message', valueString: `system ${p.system} is not ${cs.system}` },
      ],
    };
  }
  const entry = p.code ? cs.codes.get(p.code) : undefined;
  return {
    resourceType: 'Parameters',
    parameter: entry
      ? [
          { name: 'result', valueBoolean: true },
          { name: 'display', valueString: entry.display },
        ]
      : [
          { name: 'result', valueBoolean: false },
          { name: 'message', valueString: `${p.code ?? '(none)'} is not a code of ${cs.system}` },
        ],
  };
}

function expand(p: Record<string, string>): ValueSet {
  const cs = systemCodes(p.url);
  if (!cs)
    throw errors.notFound(
      `value set ${p.url ?? '(none)'} is not served here (${CVX_VALUESET}, ${MVX_VALUESET})`,
    );
  const filter = (p.filter ?? '').toLowerCase();
  const count = Math.min(Number(p.count ?? 1000) || 1000, 1000);
  const offset = Math.max(Number(p.offset ?? 0) || 0, 0);
  const words = filter.split(/\s+/).filter((w) => w.length > 0);
  const matches = [...cs.codes.values()].filter((e) => {
    const text = `${e.code} ${e.display} ${e.definition ?? ''}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  return {
    resourceType: 'ValueSet',
    url: cs.system === CVX_SYSTEM ? CVX_VALUESET : MVX_VALUESET,
    status: 'active',
    expansion: {
      timestamp: new Date().toISOString(),
      total: matches.length,
      offset,
      ...(filter ? { parameter: [{ name: 'filter', valueString: p.filter }] } : {}),
      contains: matches
        .slice(offset, offset + count)
        .map((e) => ({ system: cs.system, code: e.code, display: e.display })),
    },
  };
}

/** $lookup, $validate-code and $expand (with `filter`, for typeahead) over CVX and MVX. */
export function registerTerminology({ app, access, caps }: RouteDeps): void {
  caps.operations.set('lookup', { type: true, types: ['CodeSystem'] });
  caps.operations.set('validate-code', { type: true, types: ['CodeSystem', 'ValueSet'] });
  caps.operations.set('expand', { type: true, types: ['ValueSet'] });
  const routes: Array<[string, (p: Record<string, string>) => object]> = [
    ['/fhir/CodeSystem/$lookup', lookup],
    ['/fhir/CodeSystem/$validate-code', validateCode],
    ['/fhir/ValueSet/$validate-code', validateCode],
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
