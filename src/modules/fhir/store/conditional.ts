import type { Resource } from 'fhir/r4.js';
import type { Transaction } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import type { Query } from '../http/request.js';
import { matchingIds } from '../search/execute.js';
import { parseSearch } from '../search/parse.js';
import type { CallContext, FhirRuntime } from './context.js';
import { readResource, type ReadResult } from './read.js';
import {
  createResource,
  deleteResource,
  updateResource,
  type Preconditions,
  type WriteResult,
} from './write.js';

/** `a=1&b=2` (an If-None-Exist header or a conditional URL's query) as a query object. */
export function queryOf(criteria: string): Query {
  const query: Query = {};
  for (const [name, value] of new URLSearchParams(criteria.replace(/^\?/, ''))) {
    const prev = query[name];
    query[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return query;
}

/**
 * Finds the resources matching conditional criteria under a transaction-scoped advisory lock
 * keyed on the type and the canonical criteria, so that concurrent identical conditional
 * writes run one after the other and see each other's result.
 */
async function lockAndMatch(rt: FhirRuntime, ctx: CallContext, tx: Transaction, type: string, query: Query) {
  const request = parseSearch(rt.registry, type, query, true);
  if (request.criteria.length === 0)
    throw errors.badRequest('conditional criteria must name at least one parameter');
  const canonical = Object.entries(query)
    .map(([k, v]) => `${k}=${(Array.isArray(v) ? v : [v]).join('&')}`)
    .sort()
    .join('&');
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`fhir-cond:${type}?${canonical}`]);
  return matchingIds(rt, ctx.scope, type, request.criteria, 2, tx);
}

export type ConditionalCreate = { created: WriteResult } | { existing: ReadResult };

/** The one resource matching If-None-Exist criteria (locked), undefined for none, 412 for several. */
export async function findConditional(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  type: string,
  criteria: string,
): Promise<string | undefined> {
  const ids = await lockAndMatch(rt, ctx, tx, type, queryOf(criteria));
  if (ids.length > 1) throw errors.preconditionFailed(`If-None-Exist matches more than one ${type}`);
  return ids[0];
}

export async function conditionalCreate(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  body: unknown,
  type: string,
  criteria: string,
): Promise<ConditionalCreate> {
  const id = await findConditional(rt, ctx, tx, type, criteria);
  if (id) return { existing: await readResource(rt, ctx, type, id, tx) };
  return { created: await createResource(rt, ctx, tx, body, type) };
}

export async function conditionalUpdate(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  body: unknown,
  type: string,
  query: Query,
  pre: Preconditions = {},
): Promise<WriteResult> {
  const ids = await lockAndMatch(rt, ctx, tx, type, query);
  if (ids.length > 1) throw errors.preconditionFailed(`the criteria match more than one ${type}`);
  const given = (body as Resource | null)?.id;
  const [id] = ids;
  if (id) {
    if (given !== undefined && given !== id)
      throw errors.badRequest(`the body's id ${given} is not the matching ${type}`);
    return updateResource(rt, ctx, tx, { ...(body as object), id }, type, id, pre);
  }
  if (given !== undefined) return updateResource(rt, ctx, tx, body, type, given, pre);
  return createResource(rt, ctx, tx, body, type);
}

export async function conditionalDelete(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  type: string,
  query: Query,
): Promise<WriteResult | null> {
  const ids = await lockAndMatch(rt, ctx, tx, type, query);
  if (ids.length > 1) throw errors.preconditionFailed(`the criteria match more than one ${type}`);
  const [id] = ids;
  return id ? deleteResource(rt, ctx, tx, type, id) : null;
}
