import type { BundleEntry, BundleEntryResponse, FhirResource } from 'fhir/r4.js';
import type { Transaction } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import { operationOutcome } from '../../../platform/http/error-response.js';
import { toIrisError } from '../../../platform/http/error-handler.js';
import { searchsetBundle } from '../search/bundle.js';
import { runSearch } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import { conditionalDelete, conditionalUpdate, queryOf } from '../store/conditional.js';
import type { CallContext, FhirRuntime } from '../store/context.js';
import { readResource, vreadResource } from '../store/read.js';
import { deleteResource, patchResource, updateResource, type WriteResult } from '../store/write.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** An entry's request URL split into its parts. */
export interface EntryTarget {
  type: string;
  id?: string;
  version?: string;
  query?: string;
}

export function parseEntryUrl(rt: FhirRuntime, url: string): EntryTarget {
  const local = url.startsWith(`${rt.baseUrl}/`) ? url.slice(rt.baseUrl.length + 1) : url.replace(/^\//, '');
  const [path = '', query] = local.split('?', 2) as [string, string | undefined];
  const [type = '', id, history, version] = path.split('/');
  if (!rt.registry.hasType(type)) throw errors.badRequest(`request.url ${url} does not name a resource type`);
  if (history !== undefined && history !== '_history')
    throw errors.badRequest(`request.url ${url} is not supported`);
  return {
    type,
    ...(id ? { id } : {}),
    ...(version ? { version } : {}),
    ...(query !== undefined ? { query } : {}),
  };
}

function writeResponse(rt: FhirRuntime, r: WriteResult, withResource: boolean): BundleEntry {
  const type = r.resource.resourceType;
  const response: BundleEntryResponse = {
    status: r.created ? '201 Created' : '200 OK',
    location: `${type}/${r.resource.id}/_history/${r.versionId}`,
    etag: `W/"${r.versionId}"`,
    lastModified: r.lastUpdated.toISOString(),
  };
  return {
    fullUrl: `${rt.baseUrl}/${type}/${r.resource.id}`,
    ...(withResource ? { resource: r.resource as FhirResource } : {}),
    response,
  };
}

/** Runs one non-POST entry (POSTs are prepared by the caller) inside `tx`. */
export async function runEntry(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  method: Method,
  target: EntryTarget,
  entry: BundleEntry,
  withResource: boolean,
): Promise<BundleEntry> {
  const ifMatch = entry.request?.ifMatch ? { ifMatch: entry.request.ifMatch } : {};
  switch (method) {
    case 'DELETE': {
      const r = target.id
        ? await deleteResource(rt, ctx, tx, target.type, target.id, ifMatch)
        : await conditionalDelete(rt, ctx, tx, target.type, queryOf(target.query ?? ''));
      return { response: { status: '204 No Content', ...(r ? { etag: `W/"${r.versionId}"` } : {}) } };
    }
    case 'PUT': {
      const r = target.id
        ? await updateResource(rt, ctx, tx, entry.resource, target.type, target.id, ifMatch)
        : await conditionalUpdate(
            rt,
            ctx,
            tx,
            entry.resource,
            target.type,
            queryOf(target.query ?? ''),
            ifMatch,
          );
      return writeResponse(rt, r, withResource);
    }
    case 'PATCH': {
      if (!target.id) throw errors.badRequest('PATCH entries need Type/id');
      const patch = patchBody(entry);
      return writeResponse(
        rt,
        await patchResource(rt, ctx, tx, patch, target.type, target.id, ifMatch),
        withResource,
      );
    }
    case 'GET':
    case 'HEAD': {
      if (target.id) {
        const r = target.version
          ? await vreadResource(rt, ctx, target.type, target.id, target.version, tx)
          : await readResource(rt, ctx, target.type, target.id, tx);
        return {
          fullUrl: `${rt.baseUrl}/${target.type}/${target.id}`,
          resource: r.resource as FhirResource,
          response: {
            status: '200 OK',
            etag: `W/"${r.versionId}"`,
            lastModified: r.lastUpdated.toISOString(),
          },
        };
      }
      const query = queryOf(target.query ?? '');
      const request = parseSearch(rt.registry, target.type, query, false);
      const outcome = await runSearch(rt, ctx, request, {}, tx);
      const bundle = searchsetBundle(outcome, {
        baseUrl: rt.baseUrl,
        path: target.type,
        query,
        ignored: request.ignored,
      });
      return { resource: bundle, response: { status: '200 OK' } };
    }
    default:
      throw errors.badRequest(`request.method ${method} is not supported here`);
  }
}

/** A PATCH entry carries its JSON Patch as a Binary (base64) or a Parameters-free array. */
function patchBody(entry: BundleEntry): unknown {
  const resource = entry.resource as { resourceType?: string; data?: string } | undefined;
  if (resource?.resourceType === 'Binary' && typeof resource.data === 'string') {
    return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8'));
  }
  throw errors.badRequest(
    'PATCH entries carry a JSON Patch as a Binary resource (contentType application/json-patch+json)',
  );
}

/** An error as a batch entry response. */
export function errorEntry(error: unknown): BundleEntry {
  // A refusal raised by the database arrives as its error, not as an IrisError.
  const e = toIrisError(error instanceof Error ? error : new Error(String(error)));
  return {
    response: {
      status: String(e.statusCode),
      outcome: operationOutcome(e) as FhirResource,
    },
  };
}
