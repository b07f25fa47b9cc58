import { tryGetDataType } from '@medplum/core';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.mjs';
import type { IssueDetail } from '../../../platform/http/errors.js';

const CONSTRAINT = /^Constraint (\S+) not met/;

function expressionOf(resourceType: string, key: string): string | undefined {
  const schema = tryGetDataType(resourceType);
  for (const type of schema ? [schema, ...schema.innerTypes] : []) {
    for (const c of type.constraints ?? []) if (c.key === key) return c.expression;
    for (const element of Object.values(type.elements)) {
      for (const c of element.constraints ?? []) if (c.key === key) return c.expression;
    }
  }
  return undefined;
}

/**
 * An invariant fails only when it evaluates to false; an empty result passes. The structural
 * validator counts empty as a failure for some invariants (e.g. `x implies y` with x empty),
 * so each reported failure is re-evaluated with fhirpath.js and kept only if it is false.
 */
export function confirmedConstraint(resource: object, resourceType: string, issue: IssueDetail): boolean {
  const key = CONSTRAINT.exec(issue.message)?.[1];
  const location = issue.location;
  if (!key || !location) return true;
  const expression = expressionOf(resourceType, key);
  if (!expression) return true;
  try {
    const nodes = fhirpath.evaluate(resource, location, {}, r4Model) as unknown[];
    if (nodes.length !== 1) return true;
    const base = location.replace(/\[\d+\]/g, '');
    const result = fhirpath.evaluate(
      nodes[0],
      { base, expression },
      { resource, rootResource: resource },
      r4Model,
    ) as unknown[];
    return result.length === 1 && result[0] === false;
  } catch {
    return true;
  }
}
