import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { AccessGuards } from '../../../platform/auth/port.js';
import type { CdsClientVerifier } from './client-jwt.js';

export const CDS_SERVICE_PERMISSION = 'immunization:read';

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Who may call a CDS service: a CDS client (EHR) with a JWT signed by a key it publishes
 * (its issuer configured in CDS_HOOKS_CLIENTS), or an IRIS caller whose access token grants
 * `immunization:read`. The token's claimed issuer decides which check applies.
 */
export function cdsServiceGuard(
  guards: AccessGuards,
  verifier: CdsClientVerifier,
  endpointOf: (request: FastifyRequest) => string,
): preHandlerAsyncHookHandler {
  const irisGuard = guards.require(CDS_SERVICE_PERMISSION);
  return async function (this: unknown, request, reply) {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (token && verifier.claimsClient(token)) {
      await verifier.verify(token, endpointOf(request));
      return;
    }
    await irisGuard.call(this as never, request, reply);
  };
}
