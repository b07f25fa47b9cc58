import type { Resource } from 'fhir/r4.js';
import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import { sealedOf, VERSION_COLUMNS, type StoredVersion } from '../repo.js';
import { Params, scopeSql } from '../search/scope.js';
import { audit, type CallContext, type FhirRuntime } from './context.js';

export interface ReadResult {
  resource: Resource;
  versionId: string;
  lastUpdated: Date;
}

/** Decrypts a stored version; the ciphertext is bound to its type, id and version. */
export function decode(rt: FhirRuntime, row: StoredVersion): Resource {
  return JSON.parse(rt.cipher.open(row.resource_type, row.id, row.version, sealedOf(row))) as Resource;
}

export async function visible(q: Queryable, scope: PatientScope, type: string, id: string): Promise<boolean> {
  if (scope.kind === 'all') return true;
  const params = new Params();
  const t = params.add(type);
  const i = params.add(id);
  const result = await q.query(
    `SELECT 1 FROM fhir_resource r WHERE r.resource_type = ${t} AND r.id = ${i} AND ${scopeSql(scope, 'r', params)}`,
    params.values,
  );
  return result.rows.length > 0;
}

type Row = StoredVersion & { patients: string[] };

async function fetchRow(
  q: Queryable,
  scope: PatientScope,
  table: 'fhir_resource' | 'fhir_resource_history',
  type: string,
  id: string,
  version?: number,
): Promise<Row | undefined> {
  const params = new Params();
  const where = [`r.resource_type = ${params.add(type)}`, `r.id = ${params.add(id)}`];
  if (version !== undefined) where.push(`r.version = ${params.add(version)}`);
  // The scope is checked on the current row: a hidden resource hides its history too.
  where.push(
    `EXISTS (SELECT 1 FROM fhir_resource cur WHERE cur.resource_type = r.resource_type AND cur.id = r.id AND ${scopeSql(scope, 'cur', params)})`,
  );
  const cols = VERSION_COLUMNS.split(', ')
    .map((c) => `r.${c}`)
    .join(', ');
  const result = await q.query<Row>(
    `SELECT ${cols}, ARRAY(SELECT c.patient_id FROM fhir_compartment c
       WHERE c.resource_type = r.resource_type AND c.resource_id = r.id) AS patients
     FROM ${table} r WHERE ${where.join(' AND ')}`,
    params.values,
  );
  return result.rows[0];
}

export interface ReadOptions {
  /**
   * False for reads made by the platform on its own behalf to act on a record (e.g. building a
   * registry message), where the action itself is audited instead. Default true.
   */
  audit?: boolean;
}

export async function readResource(
  rt: FhirRuntime,
  ctx: CallContext,
  type: string,
  id: string,
  q: Queryable = rt.db,
  options: ReadOptions = {},
): Promise<ReadResult> {
  const row = await fetchRow(q, ctx.scope, 'fhir_resource', type, id);
  if (!row) throw errors.notFound(`${type}/${id} is not known`);
  if (row.deleted) {
    throw errors.gone(`${type}/${id} was deleted`, [], {
      etag: `W/"${row.version}"`,
      'last-modified': row.last_updated.toUTCString(),
    });
  }
  if (options.audit !== false)
    await audit(
      rt,
      ctx,
      {
        action: 'fhir.read',
        outcome: 'success',
        patientIds: row.patients,
        resource: { type, id, versionId: String(row.version) },
      },
      q === rt.db ? undefined : q,
    );
  return { resource: decode(rt, row), versionId: String(row.version), lastUpdated: row.last_updated };
}

export async function vreadResource(
  rt: FhirRuntime,
  ctx: CallContext,
  type: string,
  id: string,
  versionId: string,
  q: Queryable = rt.db,
  options: ReadOptions = {},
): Promise<ReadResult> {
  const version = Number(versionId);
  if (!Number.isSafeInteger(version) || version < 1)
    throw errors.notFound(`${type}/${id} has no version ${versionId}`);
  const row = await fetchRow(q, ctx.scope, 'fhir_resource_history', type, id, version);
  if (!row) throw errors.notFound(`${type}/${id} has no version ${versionId}`);
  if (row.deleted) throw errors.gone(`${type}/${id} version ${versionId} is a deletion`);
  if (options.audit !== false)
    await audit(
      rt,
      ctx,
      {
        action: 'fhir.vread',
        outcome: 'success',
        patientIds: row.patients,
        resource: { type, id, versionId },
      },
      q === rt.db ? undefined : q,
    );
  return { resource: decode(rt, row), versionId, lastUpdated: row.last_updated };
}
