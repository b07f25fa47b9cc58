/**
 * Maps clinical codes (e.g. from FHIR Condition/Observation resources) to CDSi observation codes,
 * using the coded values published in ScheduleSupportingData.xml.
 */
import { getSupportingData } from './supporting-data.js';
import type { SupportingData } from './types.js';

export interface Coding {
  system?: string;
  code?: string;
}

/** FHIR code-system URIs for the short system names the CDC uses. */
const SYSTEM_ALIASES: Record<string, string> = {
  'http://snomed.info/sct': 'SNOMED',
  'http://hl7.org/fhir/sid/cvx': 'CVX',
  'urn:oid:2.16.840.1.114222.4.5.274': 'CDCPHINVS',
};

const indexes = new WeakMap<SupportingData, Map<string, string[]>>();

function index(data: SupportingData): Map<string, string[]> {
  let map = indexes.get(data);
  if (!map) {
    map = new Map();
    for (const obs of data.observations.values()) {
      for (const v of obs.codedValues) {
        const key = `${v.system.toUpperCase()}|${v.code}`;
        map.set(key, [...(map.get(key) ?? []), obs.code]);
      }
    }
    indexes.set(data, map);
  }
  return map;
}

/** CDSi observation codes meant by the given codings (unknown codings are ignored). */
export function observationCodesFor(codings: readonly Coding[], data = getSupportingData()): string[] {
  const map = index(data);
  const out = new Set<string>();
  for (const c of codings) {
    if (!c.system || !c.code) continue;
    const system = (SYSTEM_ALIASES[c.system] ?? c.system).toUpperCase();
    for (const code of map.get(`${system}|${c.code}`) ?? []) out.add(code);
  }
  return [...out].sort();
}
