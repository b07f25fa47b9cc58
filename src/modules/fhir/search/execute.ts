import type { Resource } from 'fhir/r4.js';
import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable } from '../../../platform/db/types.js';
import { ROW_COLUMNS, type Row } from '../repo.js';
import { audit, type CallContext, type FhirRuntime } from '../store/context.js';
import { decode } from '../store/read.js';
import { scopedQueryable } from '../store/row-security.js';
import { CriteriaBuilder, isPrefixMatch } from './criteria.js';
import { loadIncludes } from './include.js';
import type { Criterion, SearchRequest } from './parse.js';
import { searchStatement } from './prepared.js';
import { Params, scopeSql } from './scope.js';
import { cursorValue, decodeCursor, encodeCursor, keysetSql, orderBy, sortKeys } from './sort.js';

export interface SearchOutcome {
  matches: Resource[];
  included: Resource[];
  total?: number;
  next?: string;
  previous?: string;
}

function whereSql(
  rt: FhirRuntime,
  scope: PatientScope,
  type: string,
  criteria: Criterion[],
  params: Params,
): string {
  const builder = new CriteriaBuilder(rt, params);
  const prefixMatches = criteria.filter(
    (c): c is Extract<Criterion, { kind: 'param' }> =>
      c.kind === 'param' && isPrefixMatch(c.param, c.modifier, type),
  );
  // One name prefix stays an EXISTS; two or more are intersected as one condition.
  const together = new Set<Criterion>(prefixMatches.length > 1 ? prefixMatches : []);
  return [
    `r.resource_type = ${params.add(type)}`,
    'NOT r.deleted',
    ...(together.size > 0 ? [builder.prefixIntersection(prefixMatches, 'r', type)] : []),
    ...criteria.filter((c) => !together.has(c)).map((c) => builder.build(c, 'r', type)),
    scopeSql(scope, 'r', params),
  ].join('\n AND ');
}

export async function countMatches(
  rt: FhirRuntime,
  scope: PatientScope,
  type: string,
  criteria: Criterion[],
  q: Queryable = rt.db,
): Promise<number> {
  const params = new Params();
  const where = whereSql(rt, scope, type, criteria, params);
  const result = await scopedQueryable(q, scope).query<{ n: number }>(
    `SELECT count(*)::int AS n FROM fhir_resource r WHERE ${where}`,
    params.values,
  );
  return result.rows[0]?.n ?? 0;
}

/** Ids of the resources matching criteria (conditional create, update and delete). */
export async function matchingIds(
  rt: FhirRuntime,
  scope: PatientScope,
  type: string,
  criteria: Criterion[],
  limit: number,
  q: Queryable = rt.db,
): Promise<string[]> {
  const params = new Params();
  const where = whereSql(rt, scope, type, criteria, params);
  const result = await scopedQueryable(q, scope).query<{ id: string }>(
    `SELECT r.id FROM fhir_resource r WHERE ${where} ORDER BY r.id LIMIT ${Math.max(1, limit)}`,
    params.values,
  );
  return result.rows.map((r) => r.id);
}

/** Runs a search with paging, includes and totals; audits the patients whose records it returns. */
export async function runSearch(
  rt: FhirRuntime,
  ctx: CallContext,
  request: SearchRequest,
  options: { countOnly?: boolean } = {},
  q: Queryable = rt.db,
): Promise<SearchOutcome> {
  const type = request.resourceType;
  const outcome: SearchOutcome = { matches: [], included: [] };
  const wantsTotal = options.countOnly || request.total === 'accurate' || request.total === 'estimate';
  if (wantsTotal) outcome.total = await countMatches(rt, ctx.scope, type, request.criteria, q);
  if (options.countOnly || request.count === 0) return outcome;

  const params = new Params();
  const where = whereSql(rt, ctx.scope, type, request.criteria, params);
  const keys = sortKeys(request.sort, type, params);
  const cursor = request.cursor ? decodeCursor(request.cursor) : undefined;
  const reverse = cursor?.direction === 'previous';
  const page = cursor ? `${where}\n AND ${keysetSql(keys, cursor.values, reverse, params)}` : where;
  const keyColumns = keys.map((k, i) => `${k.expr} AS k${i}`).join(', ');
  const sql = `SELECT ${ROW_COLUMNS}, ${keyColumns} FROM fhir_resource r WHERE ${page}
     ORDER BY ${orderBy(keys, reverse)} LIMIT ${request.count + 1}`;
  const result = await scopedQueryable(q, ctx.scope).query<Row & Record<string, unknown>>(
    sql,
    params.values,
    searchStatement(sql),
  );
  const more = result.rows.length > request.count;
  const rows = result.rows.slice(0, request.count);
  if (reverse) rows.reverse();
  const valuesOf = (row: Record<string, unknown>) => keys.map((_, i) => cursorValue(row[`k${i}`]));
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (last && (reverse || more)) outcome.next = encodeCursor({ direction: 'next', values: valuesOf(last) });
  if (first && (reverse ? more : cursor !== undefined)) {
    outcome.previous = encodeCursor({ direction: 'previous', values: valuesOf(first) });
  }
  if (outcome.total === undefined && !cursor && !more) outcome.total = rows.length;

  outcome.matches = rows.map((row) => decode(rt, row));
  // Included types need their own read permission: _revinclude must not widen what a role sees.
  const included = (await loadIncludes(rt, ctx.scope, request, rows, q)).filter(
    (row) => !ctx.can || ctx.can(row.resource_type, 'read'),
  );
  outcome.included = included.map((row) => decode(rt, row));

  const patients = new Set([...rows, ...included].flatMap((r) => r.patients));
  await audit(
    rt,
    ctx,
    {
      action: 'fhir.search',
      outcome: 'success',
      patientIds: [...patients],
      resource: { type },
      details: { matches: rows.length, included: included.length },
    },
    q === rt.db ? undefined : q,
  );
  return outcome;
}
