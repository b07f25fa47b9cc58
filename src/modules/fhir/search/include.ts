import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable } from '../../../platform/db/types.js';
import type { FhirRuntime } from '../store/context.js';
import { scopedQueryable } from '../store/row-security.js';
import { ROW_COLUMNS, type Row } from '../repo.js';
import type { IncludeSpec, SearchRequest } from './parse.js';
import { Params, scopeSql } from './scope.js';

const MAX_ROUNDS = 4;
const key = (r: { resource_type: string; id: string }) => `${r.resource_type}/${r.id}`;

async function forward(q: Queryable, scope: PatientScope, spec: IncludeSpec, ids: string[]): Promise<Row[]> {
  const params = new Params();
  const typed = spec.targetType ? ` AND x.target_type = ${params.add(spec.targetType)}` : '';
  const sql = `SELECT ${ROW_COLUMNS} FROM fhir_resource r WHERE NOT r.deleted AND (r.resource_type, r.id) IN (
      SELECT x.target_type, x.target_id FROM fhir_idx_reference x
      WHERE x.resource_type = ${params.add(spec.sourceType)} AND x.resource_id = ANY(${params.add(ids)}::text[])
      AND x.code = ${params.add(spec.code)} AND x.target_id IS NOT NULL${typed})
    AND ${scopeSql(scope, 'r', params)}`;
  return (await scopedQueryable(q, scope).query<Row>(sql, params.values)).rows;
}

async function reverse(q: Queryable, scope: PatientScope, spec: IncludeSpec, type: string, ids: string[]) {
  const params = new Params();
  const sql = `SELECT ${ROW_COLUMNS} FROM fhir_resource r WHERE r.resource_type = ${params.add(spec.sourceType)}
    AND NOT r.deleted AND r.id IN (
      SELECT x.resource_id FROM fhir_idx_reference x WHERE x.resource_type = ${params.add(spec.sourceType)}
      AND x.code = ${params.add(spec.code)} AND x.target_type = ${params.add(type)}
      AND x.target_id = ANY(${params.add(ids)}::text[]))
    AND ${scopeSql(scope, 'r', params)}`;
  return (await scopedQueryable(q, scope).query<Row>(sql, params.values)).rows;
}

/**
 * `_include` and `_revinclude` for one page of matches. Specs marked `:iterate` are applied
 * again to what was included, a bounded number of rounds; included resources obey the scope.
 */
export async function loadIncludes(
  rt: FhirRuntime,
  scope: PatientScope,
  request: SearchRequest,
  matches: Row[],
  q: Queryable = rt.db,
): Promise<Row[]> {
  if (matches.length === 0 || (request.include.length === 0 && request.revinclude.length === 0)) return [];
  const seen = new Set(matches.map(key));
  const included: Row[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_ROUNDS && frontier.length > 0; round++) {
    const found: Row[] = [];
    const byType = new Map<string, string[]>();
    for (const r of frontier) byType.set(r.resource_type, [...(byType.get(r.resource_type) ?? []), r.id]);
    for (const [type, ids] of byType) {
      for (const spec of request.include) {
        if (spec.sourceType !== type || (round > 0 && !spec.iterate)) continue;
        found.push(...(await forward(q, scope, spec, ids)));
      }
      for (const spec of request.revinclude) {
        if (round > 0 && !spec.iterate) continue;
        found.push(...(await reverse(q, scope, spec, type, ids)));
      }
    }
    frontier = [];
    for (const row of found) {
      if (seen.has(key(row))) continue;
      seen.add(key(row));
      included.push(row);
      frontier.push(row);
    }
  }
  return included;
}
