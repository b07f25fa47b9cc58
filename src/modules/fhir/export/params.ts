import { errors } from '../../../platform/http/errors.js';
import type { SearchParameterRegistry } from '../definitions/search-parameters.js';
import type { Query } from '../http/request.js';

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
/** Kick-off parameters of the IG this server does not implement: refused unless lenient. */
const UNSUPPORTED = ['_typeFilter', '_elements', 'patient', 'includeAssociatedData', '_until'];
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** The kick-off parameters as given, from the query string and a POSTed Parameters resource. */
export type RawParams = Map<string, string[]>;

interface ParametersBody {
  resourceType?: unknown;
  parameter?: Array<Record<string, unknown>>;
}

function add(raw: RawParams, name: string, value: string): void {
  raw.set(name, [...(raw.get(name) ?? []), value]);
}

export function collectParams(query: Query, body: unknown): RawParams {
  const raw: RawParams = new Map();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) add(raw, name, v);
  }
  if (body === undefined || body === null || (typeof body === 'string' && body === '')) return raw;
  const params = body as ParametersBody;
  if (typeof body !== 'object' || params.resourceType !== 'Parameters') {
    throw errors.badRequest('a POSTed $export takes a FHIR Parameters resource');
  }
  for (const p of params.parameter ?? []) {
    if (typeof p.name !== 'string') throw errors.badRequest('every parameter needs a name');
    const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
    if (typeof value !== 'string') throw errors.badRequest(`parameter ${p.name} needs a string value`);
    add(raw, p.name, value);
  }
  return raw;
}

export interface KickOff {
  /** Requested types, validated; undefined: every type the caller may read. */
  types?: string[];
  since?: string;
}

/** Validates the kick-off parameters: a client mistake is a 400, never a silent partial export. */
export function parseKickOff(registry: SearchParameterRegistry, raw: RawParams, lenient: boolean): KickOff {
  const out: KickOff = {};
  for (const format of raw.get('_outputFormat') ?? []) {
    if (!OUTPUT_FORMATS.has(format)) {
      throw errors.badRequest(
        `_outputFormat ${format} is not supported; use application/fhir+ndjson (or ndjson)`,
      );
    }
  }
  const since = raw.get('_since');
  if (since) {
    const value = since[since.length - 1] ?? '';
    if (!INSTANT.test(value) || Number.isNaN(Date.parse(value))) {
      throw errors.badRequest('_since must be a FHIR instant, e.g. 2024-01-01T00:00:00Z');
    }
    out.since = new Date(value).toISOString();
  }
  const type = raw.get('_type');
  if (type) {
    const types = [
      ...new Set(
        type
          .flatMap((v) => v.split(','))
          .map((t) => t.trim())
          .filter(Boolean),
      ),
    ];
    const unknown = types.filter((t) => !registry.hasType(t));
    if (unknown.length > 0)
      throw errors.badRequest(`_type names unknown resource types: ${unknown.join(', ')}`);
    if (types.length === 0) throw errors.badRequest('_type is empty');
    out.types = types;
  }
  if (!lenient) {
    const refused = UNSUPPORTED.filter((name) => raw.has(name));
    if (refused.length > 0) {
      throw errors.badRequest(
        `not supported by this server: ${refused.join(', ')} (send Prefer: handling=lenient to ignore)`,
      );
    }
  }
  return out;
}
