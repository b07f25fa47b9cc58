import type { Resource } from 'fhir/r4.js';
import type { Queryable } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import { ROW_COLUMNS, VERSION_COLUMNS, type Row } from '../repo.js';
import { Params, scopeSql } from '../search/scope.js';
import { audit, type CallContext, type FhirRuntime } from './context.js';
import { decode, type ReadResult } from './read.js';
import { scopedQueryable } from './row-security.js';

export interface PatientRecords {
  patient: ReadResult;
  /** Current resources of the asked types, by type then id. */
  resources: Resource[];
}

/**
 * A patient and the current resources of some types whose `patient` search parameter points at
 * them, i.e. what `<Type>?patient=Patient/<id>` finds for each type, in one round trip and
 * one audit entry instead of a read and a search per type (the forecast of every recorded dose
 * reads a patient this way). At most `limitPerType` resources of each type.
 */
export async function readPatientRecords(
  rt: FhirRuntime,
  ctx: CallContext,
  patientId: string,
  types: readonly string[],
  limitPerType: number,
  q: Queryable = rt.db,
): Promise<PatientRecords> {
  const params = new Params();
  const id = params.add(patientId);
  const sql = `SELECT * FROM (
      SELECT ${ROW_COLUMNS}, TRUE AS own FROM fhir_resource r
       WHERE r.resource_type = 'Patient' AND r.id = ${id} AND ${scopeSql(ctx.scope, 'r', params)}
      UNION ALL
      SELECT ${VERSION_COLUMNS}, patients, FALSE FROM (
        SELECT ${ROW_COLUMNS}, row_number() OVER (PARTITION BY r.resource_type ORDER BY r.id) AS n
          FROM (SELECT DISTINCT i.resource_type, i.resource_id FROM fhir_idx_reference i
                 WHERE i.resource_type = ANY(${params.add(types)}::text[]) AND i.code = 'patient'
                   AND i.target_id = ${id} AND i.target_type = 'Patient') m
          JOIN fhir_resource r ON r.resource_type = m.resource_type AND r.id = m.resource_id
         WHERE NOT r.deleted AND ${scopeSql(ctx.scope, 'r', params)}) linked
       WHERE n <= ${params.add(limitPerType)}) found
    ORDER BY own DESC, resource_type, id`;
  const rows = (
    await scopedQueryable(q, ctx.scope).query<Row & { own: boolean }>(sql, params.values, { name: sql })
  ).rows;
  const first = rows[0];
  if (!first?.own) throw errors.notFound(`Patient/${patientId} is not known`);
  if (first.deleted) throw errors.gone(`Patient/${patientId} was deleted`);
  const linked = rows.slice(1);
  await audit(
    rt,
    ctx,
    {
      action: 'fhir.search',
      outcome: 'success',
      patientIds: [...new Set(rows.flatMap((r) => r.patients))],
      resource: { type: 'Patient', id: patientId, versionId: String(first.version) },
      details: { types: [...types], matches: linked.length },
    },
    q === rt.db ? undefined : q,
  );
  return {
    patient: {
      resource: decode(rt, first),
      versionId: String(first.version),
      lastUpdated: first.last_updated,
    },
    resources: linked.map((row) => decode(rt, row)),
  };
}
