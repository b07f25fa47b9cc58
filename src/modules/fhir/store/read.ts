import type { Resource } from 'fhir/r4.js';
import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import { sealedOf, VERSION_COLUMNS, type StoredVersion } from '../repo.js';
import { Params, scopeSql } from '../search/scope.js';
import { audit, type CallContext, type FhirRuntime } from './context.js';
import { scopedQueryable } from './row-security.js';

export interface ReadResult {
  resource: Resource;
  versionId: string;
  lastUpdated: Date;
}

/** Decrypts a stored version; the ciphertext is bound to its type, id and version. */
export function decode(rt: FhirRuntime, row: StoredVersion): Resource {
  return JSON.parse(rt.cipher.open(row.resource_type, row.id, row.version, sealedOf(row))) as Resource;
}

function resultOf(rt: FhirRuntime, row: StoredVersion): ReadResult {
  return { resource: decode(rt, row), versionId: String(row.version), lastUpdated: row.last_updated };
}

export async function visible(q: Queryable, scope: PatientScope, type: string, id: string): Promise<boolean> {
  if (scope.kind === 'all') return true;
  const params = new Params();
  const t = params.add(type);
  const i = params.add(id);
  const result = await scopedQueryable(q, scope).query(
    `SELECT 1 FROM fhir_resource r WHERE r.resource_type = ${t} AND r.id = ${i} AND ${scopeSql(scope, 'r', params)}`,
    params.values,
  );
  return result.rows.length > 0;
}

type Row = StoredVersion & { patients: string[] };

async function fetchRows(
  q: Queryable,
  scope: PatientScope,
  table: 'fhir_resource' | 'fhir_resource_history',
  type: string,
  ids: readonly string[],
  /** With `fhir_resource_history`: the version of each id, in the same order. */
  versions?: readonly number[],
): Promise<Row[]> {
  const params = new Params();
  const where = [`r.resource_type = ${params.add(type)}`];
  // One id is compared as a scalar: with an array, PostgreSQL keeps re-planning the prepared
  // statement for each call (its generic plan guesses ten ids), 1.8 ms a read.
  if (ids.length === 1 && !versions) {
    where.push(`r.id = ${params.add(ids[0])}`);
  } else if (ids.length === 1 && versions) {
    where.push(`r.id = ${params.add(ids[0])} AND r.version = ${params.add(versions[0])}::int`);
  } else if (versions) {
    where.push(
      `(r.id, r.version) IN (SELECT * FROM unnest(${params.add(ids)}::text[], ${params.add(versions)}::int[]))`,
    );
  } else {
    where.push(`r.id = ANY(${params.add(ids)}::text[])`);
  }
  // The scope is checked on the current row: a hidden resource hides its history too.
  where.push(
    table === 'fhir_resource'
      ? scopeSql(scope, 'r', params)
      : `EXISTS (SELECT 1 FROM fhir_resource cur WHERE cur.resource_type = r.resource_type AND cur.id = r.id AND ${scopeSql(scope, 'cur', params)})`,
  );
  const cols = VERSION_COLUMNS.split(', ')
    .map((c) => `r.${c}`)
    .join(', ');
  const sql = `SELECT ${cols}, ARRAY(SELECT c.patient_id FROM fhir_compartment c
       WHERE c.resource_type = r.resource_type AND c.resource_id = r.id) AS patients
     FROM ${table} r WHERE ${where.join(' AND ')}`;
  // A handful of texts (one per table, scope kind and form), each its own statement name (the
  // database layer shortens long names): prepared once per connection, as planning one
  // (row-level security, scope subqueries) costs more than running it.
  const result = await scopedQueryable(q, scope).query<Row>(sql, params.values, { name: sql });
  return result.rows;
}

async function fetchRow(
  q: Queryable,
  scope: PatientScope,
  table: 'fhir_resource' | 'fhir_resource_history',
  type: string,
  id: string,
  version?: number,
): Promise<Row | undefined> {
  const rows = await fetchRows(q, scope, table, type, [id], version === undefined ? undefined : [version]);
  return rows[0];
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
  await auditReads(rt, ctx, 'fhir.read', type, [row], q, options);
  return resultOf(rt, row);
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
  await auditReads(rt, ctx, 'fhir.vread', type, [row], q, options);
  return { ...resultOf(rt, row), versionId };
}

/** A version to read with `vreadMany`. */
export interface VersionRef {
  id: string;
  versionId: string;
}

/**
 * Reads several versions of one type in one round trip (platform batch work). The answer is
 * keyed `<id>/<versionId>`; a version that is unknown, outside the caller's scope or a
 * deletion is absent, and the caller decides what that means for it.
 */
export async function vreadMany(
  rt: FhirRuntime,
  ctx: CallContext,
  type: string,
  refs: readonly VersionRef[],
  q: Queryable = rt.db,
  options: ReadOptions = {},
): Promise<Map<string, ReadResult>> {
  const wanted = refs.filter((r) => Number.isSafeInteger(Number(r.versionId)) && Number(r.versionId) >= 1);
  const found = new Map<string, ReadResult>();
  if (wanted.length === 0) return found;
  const rows = await fetchRows(
    q,
    ctx.scope,
    'fhir_resource_history',
    type,
    wanted.map((r) => r.id),
    wanted.map((r) => Number(r.versionId)),
  );
  const live = rows.filter((row) => !row.deleted);
  await auditReads(rt, ctx, 'fhir.vread', type, live, q, options);
  for (const row of live) found.set(`${row.id}/${row.version}`, resultOf(rt, row));
  return found;
}

/** Reads the current version of several resources of one type in one round trip, keyed by id. */
export async function readMany(
  rt: FhirRuntime,
  ctx: CallContext,
  type: string,
  ids: readonly string[],
  q: Queryable = rt.db,
  options: ReadOptions = {},
): Promise<Map<string, ReadResult>> {
  const found = new Map<string, ReadResult>();
  if (ids.length === 0) return found;
  const rows = await fetchRows(q, ctx.scope, 'fhir_resource', type, [...new Set(ids)]);
  const live = rows.filter((row) => !row.deleted);
  await auditReads(rt, ctx, 'fhir.read', type, live, q, options);
  for (const row of live) found.set(row.id, resultOf(rt, row));
  return found;
}

async function auditReads(
  rt: FhirRuntime,
  ctx: CallContext,
  action: 'fhir.read' | 'fhir.vread',
  type: string,
  rows: readonly Row[],
  q: Queryable,
  options: ReadOptions,
): Promise<void> {
  if (options.audit === false) return;
  await Promise.all(
    rows.map((row) =>
      audit(
        rt,
        ctx,
        {
          action,
          outcome: 'success',
          patientIds: row.patients,
          resource: { type, id: row.id, versionId: String(row.version) },
        },
        q === rt.db ? undefined : q,
      ),
    ),
  );
}
