import type { FastifyInstance } from 'fastify';
import { isFhirRequest } from '../../../platform/http/error-response.js';
import type { ObjectStorage } from '../../../platform/storage/port.js';
import { negotiate, type FhirAccess } from '../http/request.js';
import { queryOf } from '../store/conditional.js';
import type { FhirRuntime } from '../store/context.js';
import { registerBundle } from './bundle.js';
import { Capabilities, type RouteDeps } from './common.js';
import { registerCreate } from './create.js';
import { registerDelete } from './delete.js';
import { registerEverything } from './everything.js';
import { registerExport } from './export.js';
import { registerHistory } from './history.js';
import { registerMetadata } from './metadata.js';
import { registerPatch } from './patch.js';
import { registerRead } from './read.js';
import { registerSearch } from './search.js';
import { registerTerminology } from './terminology.js';
import { registerUpdate } from './update.js';
import { registerValidate } from './validate.js';
import { registerVread } from './vread.js';

/**
 * Mounts the FHIR REST API on `app` (call inside a plugin scope: its hooks stay local). Bulk
 * `$export` is served only when given the object storage its files go to.
 */
export function registerFhirRoutes(
  app: FastifyInstance,
  rt: FhirRuntime,
  access: FhirAccess = {},
  storage?: ObjectStorage,
): Capabilities {
  const caps = new Capabilities();
  const deps: RouteDeps = { app, rt, access, caps };
  app.addHook('onRequest', async (request) => {
    // Bulk export files are NDJSON, whatever JSON-only negotiation says.
    if (isFhirRequest(request.url) && !request.url.startsWith('/fhir/$export-file/')) negotiate(request);
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
  if (storage) registerExport({ app, rt, access, storage });
  return caps;
}
