import type { FastifyInstance } from 'fastify';
import { isFhirRequest } from '../../../platform/http/error-response.js';
import { negotiate, type FhirAccess } from '../http/request.js';
import { queryOf } from '../store/conditional.js';
import type { FhirRuntime } from '../store/context.js';
import { registerBundle } from './bundle.js';
import { Capabilities, type RouteDeps } from './common.js';
import { registerCreate } from './create.js';
import { registerDelete } from './delete.js';
import { registerEverything } from './everything.js';
import { registerHistory } from './history.js';
import { registerMetadata } from './metadata.js';
import { registerPatch } from './patch.js';
import { registerRead } from './read.js';
import { registerSearch } from './search.js';
import { registerTerminology } from './terminology.js';
import { registerUpdate } from './update.js';
import { registerValidate } from './validate.js';
import { registerVread } from './vread.js';

/** Mounts the FHIR REST API on `app` (call inside a plugin scope: its hooks stay local). */
export function registerFhirRoutes(
  app: FastifyInstance,
  rt: FhirRuntime,
  access: FhirAccess = {},
): Capabilities {
  const caps = new Capabilities();
  const deps: RouteDeps = { app, rt, access, caps };
  app.addHook('onRequest', async (request) => {
    if (isFhirRequest(request.url)) negotiate(request);
  });
  // POST [base]/Type/_search carries its parameters form-encoded.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, queryOf(String(body)));
    },
  );
  registerMetadata(deps);
  registerRead(deps);
  registerVread(deps);
  registerCreate(deps);
  registerUpdate(deps);
  registerPatch(deps);
  registerDelete(deps);
  registerHistory(deps);
  registerSearch(deps);
  registerValidate(deps);
  registerBundle(deps);
  registerTerminology(deps);
  registerEverything(deps);
  return caps;
}
