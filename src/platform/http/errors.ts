/**
 * The one catalogue of coded platform errors. Every error the API answers with is an IrisError
 * with a stable `code`, an HTTP status and the FHIR issue type used when it surfaces on /fhir.
 */
export type FhirIssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'not-found'
  | 'deleted'
  | 'conflict'
  | 'duplicate'
  | 'forbidden'
  | 'security'
  | 'login'
  | 'throttled'
  | 'too-costly'
  | 'not-supported'
  | 'processing'
  | 'exception'
  | 'timeout'
  | 'transient';

export interface IssueDetail {
  /** FHIRPath (FHIR) or JSON pointer (platform API) of the offending element. */
  location?: string;
  message: string;
}

export class IrisError extends Error {
  override readonly name = 'IrisError';
  constructor(
    readonly code: string,
    readonly statusCode: number,
    readonly title: string,
    message: string,
    readonly fhirIssue: FhirIssueType,
    readonly details: IssueDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface ErrorDefinition {
  code: string;
  status: number;
  title: string;
  fhirIssue: FhirIssueType;
}

function define(code: string, status: number, title: string, fhirIssue: FhirIssueType) {
  const def: ErrorDefinition = { code, status, title, fhirIssue };
  const factory = (
    message: string = title,
    details: IssueDetail[] = [],
    headers: Record<string, string> = {},
  ) => new IrisError(def.code, def.status, def.title, message, def.fhirIssue, details, headers);
  return Object.assign(factory, { definition: def });
}

export const errors = {
  badRequest: define('IRIS_BAD_REQUEST', 400, 'Bad request', 'invalid'),
  validation: define('IRIS_VALIDATION', 400, 'Request validation failed', 'invalid'),
  malformedBody: define('IRIS_MALFORMED_BODY', 400, 'Malformed request body', 'structure'),
  unauthorized: define('IRIS_UNAUTHORIZED', 401, 'Authentication required', 'login'),
  forbidden: define('IRIS_FORBIDDEN', 403, 'Forbidden', 'forbidden'),
  notFound: define('IRIS_NOT_FOUND', 404, 'Not found', 'not-found'),
  routeNotFound: define('IRIS_ROUTE_NOT_FOUND', 404, 'Not found', 'not-found'),
  methodNotAllowed: define('IRIS_METHOD_NOT_ALLOWED', 405, 'Method not allowed', 'not-supported'),
  notAcceptable: define('IRIS_NOT_ACCEPTABLE', 406, 'Not acceptable', 'not-supported'),
  conflict: define('IRIS_CONFLICT', 409, 'Conflict', 'conflict'),
  gone: define('IRIS_GONE', 410, 'Gone', 'deleted'),
  preconditionFailed: define('IRIS_PRECONDITION_FAILED', 412, 'Precondition failed', 'conflict'),
  payloadTooLarge: define('IRIS_PAYLOAD_TOO_LARGE', 413, 'Payload too large', 'too-costly'),
  unsupportedMediaType: define('IRIS_UNSUPPORTED_MEDIA_TYPE', 415, 'Unsupported media type', 'not-supported'),
  unprocessable: define('IRIS_UNPROCESSABLE', 422, 'Unprocessable entity', 'processing'),
  tooManyRequests: define('IRIS_TOO_MANY_REQUESTS', 429, 'Too many requests', 'throttled'),
  internal: define('IRIS_INTERNAL', 500, 'Internal server error', 'exception'),
  badGateway: define('IRIS_BAD_GATEWAY', 502, 'Bad gateway', 'transient'),
  unavailable: define('IRIS_UNAVAILABLE', 503, 'Service unavailable', 'transient'),
} as const;
