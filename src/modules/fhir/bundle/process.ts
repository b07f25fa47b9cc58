import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import type { Transaction } from '../../../platform/db/types.js';
import { errors, IrisError } from '../../../platform/http/errors.js';
import { matchingIds } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import { conditionalCreate, findConditional, queryOf } from '../store/conditional.js';
import type { CallContext, FhirRuntime } from '../store/context.js';
import { createManyTrusted, createResource, type WriteResult } from '../store/write.js';
import { assertValid } from '../validation.js';
import { errorEntry, parseEntryUrl, runEntry, type EntryTarget, type Method } from './entry.js';
import { conditionalReferences, rewriteReferences } from './references.js';

const ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
const ACTION: Record<Method, 'read' | 'write' | 'delete'> = {
  DELETE: 'delete',
  POST: 'write',
  PUT: 'write',
  PATCH: 'write',
  GET: 'read',
  HEAD: 'read',
};

interface Planned {
  index: number;
  entry: BundleEntry;
  method: Method;
  target: EntryTarget;
}

/** Each entry needs the permission its own interaction would need on its own. */
function checkPermissions(ctx: CallContext, planned: Planned[]): void {
  for (const p of planned) {
    if (ctx.can && !ctx.can(p.target.type, ACTION[p.method])) {
      throw errors.forbidden(`entry ${p.index}: no permission to ${ACTION[p.method]} ${p.target.type}`, [
        {
          location: `Bundle.entry[${p.index}].request`,
          message: `needs ${ACTION[p.method]} on ${p.target.type}`,
        },
      ]);
    }
  }
}

function plan(rt: FhirRuntime, bundle: Bundle): Planned[] {
  return (bundle.entry ?? []).map((entry, index) => {
    const method = entry.request?.method as Method | undefined;
    const url = entry.request?.url;
    if (!method || !(method in ORDER) || !url) {
      throw errors.badRequest(`entry ${index} needs request.method and request.url`, [
        {
          location: `Bundle.entry[${index}].request`,
          message: 'request.method and request.url are required',
        },
      ]);
    }
    return { index, entry, method, target: parseEntryUrl(rt, url) };
  });
}

/** Re-throws an entry's failure naming the entry, so the OperationOutcome points at it. */
function atEntry(index: number, error: unknown): never {
  if (!(error instanceof IrisError)) throw error;
  const details = (error.details.length > 0 ? error.details : [{ message: error.message }]).map((d) => ({
    location: `Bundle.entry[${index}].resource${d.location?.replace(/^[A-Z][A-Za-z]*/, '') ?? ''}`,
    message: d.message,
  }));
  throw new IrisError(
    error.code,
    error.statusCode,
    error.title,
    `entry ${index}: ${error.message}`,
    error.fhirIssue,
    details,
    error.headers,
  );
}

async function resolveConditionalReference(rt: FhirRuntime, ctx: CallContext, tx: Transaction, ref: string) {
  const [type = '', query = ''] = ref.split('?', 2);
  if (!rt.registry.hasType(type))
    throw errors.badRequest(`conditional reference ${ref} names no resource type`);
  const request = parseSearch(rt.registry, type, queryOf(query), true);
  const ids = await matchingIds(rt, ctx.scope, type, request.criteria, 2, tx);
  if (ids.length !== 1) {
    throw errors.preconditionFailed(
      `conditional reference ${type}?… matches ${ids.length === 0 ? 'nothing' : 'more than one resource'}`,
    );
  }
  return `${type}/${ids[0]}`;
}

/**
 * A transaction: all entries in one database transaction (all or nothing), processed in the
 * order DELETE, POST, PUT/PATCH, GET; fullUrls of created resources (`urn:uuid:`) and
 * conditional references are rewritten to the ids assigned or found.
 */
export async function processTransaction(
  rt: FhirRuntime,
  ctx: CallContext,
  bundle: Bundle,
  withResource: boolean,
): Promise<Bundle> {
  const planned = plan(rt, bundle);
  checkPermissions(ctx, planned);
  const results = new Array<BundleEntry>(planned.length);
  await rt.db.transaction(async (tx) => {
    const map = new Map<string, string>();
    const existing = new Map<number, BundleEntry>();
    const ids = new Map<number, string>();
    for (const p of planned.filter((x) => x.method === 'POST')) {
      const resource = p.entry.resource as Resource | undefined;
      if (!resource) atEntry(p.index, errors.badRequest('a POST entry needs a resource'));
      let id: string = randomUUID();
      const criteria = p.entry.request?.ifNoneExist;
      if (criteria) {
        try {
          const found = await findConditional(rt, ctx, tx, p.target.type, criteria);
          if (found) {
            id = found;
            existing.set(p.index, {
              fullUrl: `${rt.baseUrl}/${p.target.type}/${found}`,
              response: { status: '200 OK' },
            });
          }
        } catch (error) {
          atEntry(p.index, error);
        }
      }
      ids.set(p.index, id);
      if (p.entry.fullUrl) map.set(p.entry.fullUrl, `${p.target.type}/${id}`);
    }
    for (const p of planned) {
      for (const ref of conditionalReferences(p.entry.resource)) {
        if (!map.has(ref))
          map.set(ref, await resolveConditionalReference(rt, ctx, tx, ref).catch((e) => atEntry(p.index, e)));
      }
      if (p.entry.resource) rewriteReferences(p.entry.resource, map);
    }
    const ordered = [...planned].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
    let posted = false;
    for (const p of ordered) {
      // Every new resource of the bundle is created at once, after the deletes; a failure
      // already names its entry.
      if (p.method === 'POST' && !posted) {
        posted = true;
        const created = planned.filter((x) => x.method === 'POST' && !existing.has(x.index));
        for (const [index, entry] of await postEntries(rt, ctx, tx, created, ids, withResource))
          results[index] = entry;
      }
      try {
        if (p.method === 'POST') {
          const found = existing.get(p.index);
          if (found) results[p.index] = found;
        } else {
          const target = p.target.query
            ? { ...p.target, query: rewriteQuery(p.target.query, map) }
            : p.target;
          results[p.index] = await runEntry(rt, ctx, tx, p.method, target, p.entry, withResource);
        }
      } catch (error) {
        atEntry(p.index, error);
      }
    }
  });
  return { resourceType: 'Bundle', id: randomUUID(), type: 'transaction-response', entry: results };
}

/** Criteria may name a resource created earlier in the bundle by its urn. */
function rewriteQuery(query: string, map: ReadonlyMap<string, string>): string {
  let out = query;
  for (const [from, to] of map) out = out.split(encodeURIComponent(from)).join(to).split(from).join(to);
  return out;
}

/**
 * Creates the bundle's new resources together (a fixed number of statements however many),
 * each validated as its own create would be; a failure names its entry.
 */
async function postEntries(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  created: readonly Planned[],
  ids: ReadonlyMap<number, string>,
  withResource: boolean,
): Promise<Array<[number, BundleEntry]>> {
  const resources = created.map((p) => {
    try {
      const body: unknown = p.entry.resource;
      assertValid(body, rt.validationOptions);
      if (body.resourceType !== p.target.type) {
        throw errors.badRequest(`the body is a ${body.resourceType}, the URL names ${p.target.type}`);
      }
      return { ...body, id: ids.get(p.index) as string } as Resource;
    } catch (error) {
      return atEntry(p.index, error);
    }
  });
  const written = await createManyTrusted(rt, ctx, tx, resources, (i, error) =>
    atEntry((created[i] as Planned).index, error),
  );
  return written.map((r, i) => {
    const p = created[i] as Planned;
    return [p.index, createdEntry(rt, p.target.type, r, withResource)];
  });
}

function createdEntry(rt: FhirRuntime, type: string, r: WriteResult, withResource: boolean): BundleEntry {
  const id = r.resource.id as string;
  return {
    fullUrl: `${rt.baseUrl}/${type}/${id}`,
    ...(withResource ? { resource: r.resource as BundleEntry['resource'] } : {}),
    response: {
      status: '201 Created',
      location: `${type}/${id}/_history/${r.versionId}`,
      etag: `W/"${r.versionId}"`,
      lastModified: r.lastUpdated.toISOString(),
    },
  };
}

/** A batch: every entry on its own (its own transaction); failures become entry responses. */
export async function processBatch(
  rt: FhirRuntime,
  ctx: CallContext,
  bundle: Bundle,
  withResource: boolean,
): Promise<Bundle> {
  const entries = bundle.entry ?? [];
  const results: BundleEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const [p] = plan(rt, { resourceType: 'Bundle', type: 'batch', entry: [entry] });
      if (!p) throw errors.badRequest('empty entry');
      checkPermissions(ctx, [p]);
      results[index] = await rt.db.transaction(async (tx) => {
        if (p.method !== 'POST') return runEntry(rt, ctx, tx, p.method, p.target, entry, withResource);
        const criteria = entry.request?.ifNoneExist;
        if (criteria) {
          const outcome = await conditionalCreate(rt, ctx, tx, entry.resource, p.target.type, criteria);
          if ('existing' in outcome) {
            return {
              fullUrl: `${rt.baseUrl}/${p.target.type}/${outcome.existing.resource.id}`,
              response: { status: '200 OK' },
            };
          }
          const r = outcome.created;
          return {
            fullUrl: `${rt.baseUrl}/${p.target.type}/${r.resource.id}`,
            ...(withResource ? { resource: r.resource as BundleEntry['resource'] } : {}),
            response: {
              status: '201 Created',
              location: `${p.target.type}/${r.resource.id}/_history/${r.versionId}`,
              etag: `W/"${r.versionId}"`,
            },
          };
        }
        const r = await createResource(rt, ctx, tx, entry.resource, p.target.type, randomUUID());
        return createdEntry(rt, p.target.type, r, withResource);
      });
    } catch (error) {
      results[index] = errorEntry(error);
    }
  }
  return { resourceType: 'Bundle', id: randomUUID(), type: 'batch-response', entry: results };
}
