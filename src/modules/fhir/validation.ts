import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Immunization, OperationOutcomeIssue, Resource } from 'fhir/r4.js';
import { IrisError, type IssueDetail } from '../../platform/http/errors.js';
import { loadStructureDefinitions } from './definitions/structure.js';
import { CVX_SYSTEM, cvxCodes } from './terminology/cdc-codes.js';
import { bindingAndReferenceIssues } from './validation/bindings.js';
import { confirmedConstraint } from './validation/constraints.js';

export interface ValidationOptions {
  /** IRIS business rule: an Immunization must name its vaccine with an existing CVX code. */
  requireCvx: boolean;
}

export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

function issueDetail(issue: OperationOutcomeIssue): IssueDetail {
  return {
    location: issue.expression?.[0],
    message: issue.details?.text ?? issue.diagnostics ?? 'invalid',
  };
}

function businessRules(resource: Resource, options: ValidationOptions): IssueDetail[] {
  if (resource.resourceType !== 'Immunization' || !options.requireCvx) return [];
  const codings = (resource as Immunization).vaccineCode?.coding ?? [];
  const cvx = codings.map((c, i) => ({ c, i })).filter(({ c }) => c.system === CVX_SYSTEM);
  if (cvx.length === 0) {
    return [
      {
        location: 'Immunization.vaccineCode.coding',
        message: `vaccineCode must carry a CVX code (system ${CVX_SYSTEM})`,
      },
    ];
  }
  return cvx
    .filter(({ c }) => !c.code || !cvxCodes().has(c.code))
    .map(({ c, i }) => ({
      location: `Immunization.vaccineCode.coding[${i}].code`,
      message: `${JSON.stringify(c.code ?? '')} is not a CVX code`,
    }));
}

/**
 * Checks a resource against the official R4 StructureDefinitions (cardinality, types, fixed
 * values, the invariants the validator evaluates) and the IRIS business rules. Returns the
 * error-level problems; an empty list means the resource may be stored.
 */
export function validationIssues(resource: unknown, options: ValidationOptions): IssueDetail[] {
  loadStructureDefinitions();
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return [{ message: 'the body must be a FHIR resource (a JSON object)' }];
  }
  const r = resource as Resource;
  if (typeof r.resourceType !== 'string') return [{ message: 'resourceType is missing' }];
  if (r.id !== undefined && (typeof r.id !== 'string' || !ID_PATTERN.test(r.id))) {
    return [{ location: `${r.resourceType}.id`, message: 'id must be 1-64 of A-Z a-z 0-9 - .' }];
  }
  let issues: IssueDetail[] = [];
  try {
    validateResource(r);
  } catch (error) {
    if (!(error instanceof OperationOutcomeError)) throw error;
    issues = (error.outcome.issue ?? [])
      .filter((i: OperationOutcomeIssue) => i.severity === 'error' || i.severity === 'fatal')
      .map(issueDetail)
      .filter((i: IssueDetail) => confirmedConstraint(r, r.resourceType, i));
  }
  issues.push(...bindingAndReferenceIssues(r as unknown as Record<string, unknown>));
  return [...issues, ...businessRules(r, options)];
}

/** 422 with every problem as an OperationOutcome issue (code `invalid`, FHIRPath expression). */
export function invalidResource(details: IssueDetail[]): IrisError {
  return new IrisError(
    'IRIS_UNPROCESSABLE',
    422,
    'Unprocessable entity',
    details[0]?.message ?? 'the resource is not valid',
    'invalid',
    details,
  );
}

export function assertValid(resource: unknown, options: ValidationOptions): asserts resource is Resource {
  const issues = validationIssues(resource, options);
  if (issues.length > 0) throw invalidResource(issues);
}
