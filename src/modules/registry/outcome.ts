import type { OperationOutcome } from 'fhir/r4.js';
import type { Ack } from './hl7/index.js';
import type { AttemptResult, RegistryIssue } from './submissions.js';

/**
 * What an HL7 acknowledgement means for a dose (CDC guide, MSA-1 with ERR-4 severities):
 * AA is accepted (with warnings when an ERR says W); AE is accepted with warnings unless an ERR
 * has severity E or F, which rejects; AR rejects. Commit acks (enhanced mode) read alike.
 */
export function ackResult(ack: Ack): AttemptResult {
  const issues: RegistryIssue[] = ack.errors.map((e) => ({ ...e }));
  const blocking = issues.some((e) => e.severity === 'E' || e.severity === 'F');
  const warnings = issues.some((e) => e.severity === 'W');
  switch (ack.ackCode) {
    case 'AA':
    case 'CA':
      return {
        kind: 'answered',
        status: warnings || blocking ? 'accepted_with_warnings' : 'accepted',
        ackCode: ack.ackCode,
        issues,
      };
    case 'AE':
    case 'CE':
      return {
        kind: 'answered',
        status: blocking ? 'rejected' : 'accepted_with_warnings',
        ackCode: ack.ackCode,
        issues,
      };
    default:
      return { kind: 'answered', status: 'rejected', ackCode: ack.ackCode, issues };
  }
}

const SEVERITY = { fatal: 'F', error: 'E', warning: 'W', information: 'I' } as const;

function outcomeIssues(body: unknown): RegistryIssue[] {
  const outcomes: OperationOutcome[] = [];
  const collect = (value: unknown) => {
    const resource = value as { resourceType?: string; entry?: Array<{ response?: { outcome?: unknown } }> };
    if (resource?.resourceType === 'OperationOutcome') outcomes.push(resource as OperationOutcome);
    if (resource?.resourceType === 'Bundle')
      for (const e of resource.entry ?? []) collect(e.response?.outcome);
  };
  collect(body);
  return outcomes.flatMap((o) =>
    (o.issue ?? []).map((issue) => ({
      severity: SEVERITY[issue.severity] ?? 'E',
      code: issue.code,
      ...(issue.details?.coding?.[0]?.code ? { applicationCode: issue.details.coding[0].code } : {}),
      ...(issue.expression?.[0] ? { location: issue.expression[0] } : {}),
      ...((issue.diagnostics ?? issue.details?.text)
        ? { message: issue.diagnostics ?? issue.details?.text }
        : {}),
    })),
  );
}

/** A FHIR registry's answer: 2xx accepts (warnings from any OperationOutcome), 4xx rejects. */
export function fhirResult(status: number, body: unknown): AttemptResult {
  const issues = outcomeIssues(body);
  const code = String(status);
  if (status >= 200 && status < 300) {
    const warnings = issues.some((i) => i.severity !== 'I');
    return {
      kind: 'answered',
      status: warnings ? 'accepted_with_warnings' : 'accepted',
      ackCode: code,
      issues,
    };
  }
  return { kind: 'answered', status: 'rejected', ackCode: code, issues };
}
