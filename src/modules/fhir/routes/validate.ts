import type { Parameters, Resource } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import { guardFor, requireJsonBody } from '../http/request.js';
import { validationIssues } from '../validation.js';
import { assertType, type RouteDeps, type TypeParams } from './common.js';

/** The resource to validate: the body itself, or the `resource` parameter of a Parameters body. */
function candidate(body: unknown): unknown {
  const b = body as Resource;
  if (b.resourceType !== 'Parameters') return body;
  const param = (body as Parameters).parameter?.find((p) => p.name === 'resource');
  if (!param?.resource) throw errors.badRequest('$validate needs a resource (or a Parameters with one)');
  return param.resource;
}

/** $validate: POST [base]/Type/$validate and [base]/Type/id/$validate; nothing is stored, the answer is 200 with the issues found. */
export function registerValidate({ app, rt, access, caps }: RouteDeps): void {
  caps.operations.set('validate', { type: true, instance: true });
  const handler = async (type: string, body: unknown) => {
    assertType(rt, type);
    const resource = candidate(body);
    const issues = validationIssues(resource, rt.validationOptions);
    if ((resource as Resource).resourceType !== type) {
      issues.push({
        message: `the resource is a ${(resource as Resource).resourceType}, the URL names ${type}`,
      });
    }
    return {
      resourceType: 'OperationOutcome',
      issue:
        issues.length > 0
          ? issues.map((i) => ({
              severity: 'error',
              code: 'invalid',
              diagnostics: i.message,
              ...(i.location ? { expression: [i.location] } : {}),
            }))
          : [{ severity: 'information', code: 'informational', diagnostics: 'the resource is valid' }],
    };
  };
  app.post<{ Params: TypeParams }>(
    '/fhir/:type/$validate',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const outcome = await handler(request.params.type, requireJsonBody(request));
      return reply.code(200).type(FHIR_JSON).send(outcome);
    },
  );
  app.post<{ Params: TypeParams & { id: string } }>(
    '/fhir/:type/:id/$validate',
    { preHandler: guardFor(access, 'read'), schema: { hide: true } },
    async (request, reply) => {
      const outcome = await handler(request.params.type, requireJsonBody(request));
      return reply.code(200).type(FHIR_JSON).send(outcome);
    },
  );
}
