import { tryGetDataType, type InternalSchemaElement } from '@medplum/core';
import type { IssueDetail } from '../../../platform/http/errors.js';
import { parseReference } from '../indexing/references.js';
import { expandCoreValueSet } from '../terminology/core-valuesets.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const ANY_RESOURCE = 'http://hl7.org/fhir/StructureDefinition/Resource';
const MAX_DEPTH = 24;

function checkBinding(
  value: unknown,
  typeCode: string,
  valueSet: string,
  path: string,
  issues: IssueDetail[],
) {
  const expansion = expandCoreValueSet(valueSet);
  if (!expansion) return;
  const vsName = valueSet.split('|')[0];
  if (typeCode === 'code' && typeof value === 'string') {
    if (!expansion.codes.has(value))
      issues.push({
        location: path,
        message: `${JSON.stringify(value)} is not in the required value set ${vsName}`,
      });
    return;
  }
  const codings =
    typeCode === 'Coding'
      ? [value]
      : typeCode === 'CodeableConcept' && isObj(value)
        ? ((value.coding as unknown[] | undefined) ?? [])
        : [];
  const known = codings.filter(
    (c): c is Obj => isObj(c) && typeof c.system === 'string' && expansion.systems.has(c.system),
  );
  const relevant = codings.filter(isObj);
  if (relevant.length === 0) return;
  const ok = relevant.some((c) => expansion.qualified.has(`${String(c.system)}|${String(c.code)}`));
  if (!ok && (known.length > 0 || relevant.every((c) => c.system === undefined))) {
    issues.push({ location: path, message: `no coding is in the required value set ${vsName}` });
  }
}

function checkReference(value: unknown, element: InternalSchemaElement, path: string, issues: IssueDetail[]) {
  if (!isObj(value) || typeof value.reference !== 'string') return;
  const profiles = element.type.flatMap((t) => (t.code === 'Reference' ? (t.targetProfile ?? []) : []));
  if (profiles.length === 0 || profiles.includes(ANY_RESOURCE)) return;
  const { targetType } = parseReference(value.reference);
  if (!targetType) return;
  const allowed = profiles.map((p) => p.split('/').pop() ?? '');
  if (!allowed.includes(targetType)) {
    issues.push({
      location: `${path}.reference`,
      message: `a ${targetType} may not be referenced here (allowed: ${allowed.join(', ')})`,
    });
  }
}

function walk(value: Obj, typeName: string, path: string, issues: IssueDetail[], depth: number): void {
  if (depth > MAX_DEPTH) return;
  const schema = tryGetDataType(typeName);
  if (!schema) return;
  for (const [key, element] of Object.entries(schema.elements)) {
    const props: Array<[string, string]> = key.endsWith('[x]')
      ? element.type.map((t) => [`${key.slice(0, -3)}${capital(t.code)}`, t.code])
      : [[key, element.type[0]?.code ?? '']];
    for (const [prop, typeCode] of props) {
      const raw = value[prop];
      if (raw === undefined) continue;
      const items = Array.isArray(raw) ? raw : [raw];
      items.forEach((item, i) => {
        const at = `${path}.${prop}${Array.isArray(raw) ? `[${i}]` : ''}`;
        if (element.binding?.strength === 'required' && element.binding.valueSet) {
          checkBinding(item, typeCode, element.binding.valueSet, at, issues);
        }
        if (typeCode === 'Reference') checkReference(item, element, at, issues);
        if (!isObj(item)) return;
        if (typeCode === 'Resource' && typeof item.resourceType === 'string') {
          walk(item, item.resourceType, at, issues, depth + 1);
        } else if (/^[A-Z]/.test(typeCode)) {
          walk(item, typeCode, at, issues, depth + 1);
        }
      });
    }
  }
}

/**
 * What the structural validator leaves out: codes against required bindings to the core value
 * sets, and the resource types a Reference may point at.
 */
export function bindingAndReferenceIssues(resource: Obj): IssueDetail[] {
  const issues: IssueDetail[] = [];
  if (typeof resource.resourceType === 'string')
    walk(resource, resource.resourceType, resource.resourceType, issues, 0);
  return issues;
}
