import type { Queryable, Transaction } from '../../platform/db/types.js';
import type { Sealed } from './crypto.js';
import type { IndexRows } from './indexing/extract.js';
import { INDEX_TABLES } from './schema.js';

/** A stored version as read back (content still encrypted). */
export interface StoredVersion {
  resource_type: string;
  id: string;
  version: number;
  last_updated: Date;
  deleted: boolean;
  kid: string;
  wrapped_key: Buffer;
  iv: Buffer;
  content: Buffer;
}

export const VERSION_COLUMNS =
  'resource_type, id, version, last_updated, deleted, kid, wrapped_key, iv, content';

/** A version with the patients whose compartment holds it (for audit entries). */
export type Row = StoredVersion & { patients: string[] };

/** Columns of a resource row `r` plus its compartment patients. */
export const ROW_COLUMNS = `${VERSION_COLUMNS.split(', ')
  .map((c) => `r.${c}`)
  .join(', ')}, ARRAY(SELECT c.patient_id FROM fhir_compartment c
    WHERE c.resource_type = r.resource_type AND c.resource_id = r.id) AS patients`;

export function sealedOf(row: StoredVersion): Sealed {
  return {
    kid: row.kid,
    wrappedKey: Buffer.from(row.wrapped_key),
    iv: Buffer.from(row.iv),
    content: Buffer.from(row.content),
  };
}

/**
 * The current row of a resource about to be written, locked, with the patients whose
 * compartments hold it now (a write concerns them as well as its new ones).
 */
export async function lockCurrentRow(q: Queryable, type: string, id: string): Promise<Row | undefined> {
  const result = await q.query<Row>(
    `SELECT ${ROW_COLUMNS} FROM fhir_resource r WHERE r.resource_type = $1 AND r.id = $2 FOR UPDATE OF r`,
    [type, id],
    { name: 'fhir_lock_current' },
  );
  return result.rows[0];
}

export async function readVersion(
  q: Queryable,
  type: string,
  id: string,
  version: number,
): Promise<StoredVersion | undefined> {
  const result = await q.query<StoredVersion>(
    `SELECT ${VERSION_COLUMNS} FROM fhir_resource_history WHERE resource_type = $1 AND id = $2 AND version = $3`,
    [type, id, version],
  );
  return result.rows[0];
}

export interface NewVersion {
  type: string;
  id: string;
  version: number;
  lastUpdated: Date;
  deleted: boolean;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  sealed: Sealed;
}

/** Adds a parameter and answers its placeholder. */
type Param = (value: unknown) => string;

/**
 * The CTEs storing new versions: their history rows and current rows. Binary columns travel as
 * base64 text arrays, which every driver serialises alike. `only` (a condition) stores them
 * only when it holds.
 */
function versionCtes(versions: readonly NewVersion[], p: Param, only = ''): string[] {
  const column = <T>(pick: (v: NewVersion) => T) => p(versions.map(pick));
  const b64 = (pick: (v: NewVersion) => Buffer) => p(versions.map((v) => pick(v).toString('base64')));
  return [
    `v AS (
       SELECT * FROM unnest(${column((v) => v.type)}::text[], ${column((v) => v.id)}::text[],
         ${column((v) => v.version)}::int[], ${column((v) => v.lastUpdated)}::timestamptz[],
         ${column((v) => v.deleted)}::boolean[], ${column((v) => v.sealed.kid)}::text[],
         ${b64((v) => v.sealed.wrappedKey)}::text[], ${b64((v) => v.sealed.iv)}::text[],
         ${b64((v) => v.sealed.content)}::text[], ${column((v) => v.method)}::text[])
         AS v(resource_type, id, version, last_updated, deleted, kid, wrapped_key, iv, content, method)${only})`,
    `history AS (
       INSERT INTO fhir_resource_history (${VERSION_COLUMNS}, method)
       SELECT resource_type, id, version, last_updated, deleted, kid, decode(wrapped_key, 'base64'),
              decode(iv, 'base64'), decode(content, 'base64'), method FROM v)`,
    `current AS (
       INSERT INTO fhir_resource (${VERSION_COLUMNS})
       SELECT resource_type, id, version, last_updated, deleted, kid, decode(wrapped_key, 'base64'),
              decode(iv, 'base64'), decode(content, 'base64') FROM v
       ON CONFLICT (resource_type, id) DO UPDATE SET version = EXCLUDED.version,
         last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, kid = EXCLUDED.kid,
         wrapped_key = EXCLUDED.wrapped_key, iv = EXCLUDED.iv, content = EXCLUDED.content)`,
  ];
}

function placeholders(params: unknown[]): Param {
  return (value) => `$${params.push(value)}`;
}

/** Patients a write concerns that must each be managed by one of `organizations`. */
export interface WriteGuard {
  patients: readonly string[];
  organizations: readonly string[];
}

/**
 * Stores new versions and the index rows of resources that have none (new ones, or ones whose
 * rows were just cleared) in one statement, sent with the transaction's next statement or its
 * commit (with its audit entry and event: one round trip for a write). With a guard, the
 * statement fails with SQLSTATE IR403 unless every guard patient is managed by one of its
 * organizations (the organization-scope check of a write), and so does the transaction:
 * nothing is stored.
 */
export function deferVersionsAndIndex(
  tx: Transaction,
  versions: readonly NewVersion[],
  resources: readonly IndexedResource[],
  guard?: WriteGuard,
): void {
  const params: unknown[] = [];
  const p = placeholders(params);
  const ctes: string[] = [];
  let only = '';
  if (guard) {
    const patients = [...new Set(guard.patients)];
    ctes.push(`ok AS (SELECT fhir_require_write_access(count(*) = ${p(patients.length)}::int8) AS ok
       FROM fhir_patient_organization
       WHERE patient_id = ANY(${p(patients)}::text[]) AND organization_id = ANY(${p(guard.organizations)}::text[]))`);
    only = ' WHERE (SELECT ok FROM ok)';
  }
  ctes.push(...versionCtes(versions, p, only));
  const index = indexInserts(resources, p, only);
  index.inserts.forEach((sql, i) => ctes.push(`i${i} AS (${sql})`));
  tx.defer(`WITH ${ctes.join(', ')} SELECT 1`, params, {
    name: `fhir_write_${guard ? 'guarded_' : ''}${index.shape.join('_')}`,
  });
}

/** Open period ends are stored as PostgreSQL's infinities. */
function instant(date: Date): string {
  const t = date.getTime();
  if (t <= -8.64e15) return '-infinity';
  if (t >= 8.64e15) return 'infinity';
  return date.toISOString();
}

/**
 * One statement clearing the index rows and compartment membership of the resources `match`
 * selects (and, with `patientMatch`, the organization of those that are Patients): one round
 * trip for every table, since round trips, not rows, dominate a write.
 */
function clearIndexSql(match: string, patientMatch?: string): string {
  const deletes = [
    ...INDEX_TABLES.map((table) => `DELETE FROM ${table} WHERE ${match}`),
    `DELETE FROM fhir_compartment WHERE ${match}`,
    ...(patientMatch ? [`DELETE FROM fhir_patient_organization WHERE ${patientMatch}`] : []),
  ];
  return `WITH ${deletes.map((sql, i) => `d${i} AS (${sql})`).join(', ')} SELECT 1`;
}

/** Clears the index rows and compartment membership of one resource, before new ones are inserted. */
export async function clearIndex(q: Queryable, type: string, id: string): Promise<void> {
  const sql = clearIndexSql(
    'resource_type = $1 AND resource_id = $2',
    type === 'Patient' ? 'patient_id = $2' : undefined,
  );
  await q.query(sql, [type, id]);
}

/** Which of these patients one of the organizations manages. */
export async function managedBy(
  q: Queryable,
  patients: readonly string[],
  organizations: readonly string[],
): Promise<string[]> {
  const known = await q.query<{ patient_id: string }>(
    'SELECT patient_id FROM fhir_patient_organization WHERE patient_id = ANY($1::text[]) AND organization_id = ANY($2::text[])',
    [patients, organizations],
  );
  return known.rows.map((r) => r.patient_id);
}

/** Replaces the index rows and compartment membership of many resources in two round trips. */
export async function replaceIndexRows(q: Queryable, resources: readonly IndexedResource[]): Promise<void> {
  const sql = clearIndexSql(
    '(resource_type, resource_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
    'patient_id = ANY($3::text[])',
  );
  await q.query(sql, [
    resources.map((r) => r.type),
    resources.map((r) => r.id),
    resources.filter((r) => r.type === 'Patient').map((r) => r.id),
  ]);
  await insertIndexRows(q, resources);
}

export interface IndexedResource {
  type: string;
  id: string;
  rows: IndexRows;
}

/**
 * Inserts the index rows and compartment membership of resources that have none yet, every
 * table in one round trip. The statement's text depends only on which tables get rows, so it
 * is prepared once per shape and reused.
 */
export async function insertIndexRows(q: Queryable, resources: readonly IndexedResource[]): Promise<void> {
  const params: unknown[] = [];
  const { inserts, shape } = indexInserts(resources, placeholders(params));
  if (inserts.length === 0) return;
  await q.query(`WITH ${inserts.map((sql, i) => `i${i} AS (${sql})`).join(', ')} SELECT 1`, params, {
    name: `fhir_idx_${shape.join('_')}`,
  });
}

/**
 * The INSERTs of the index rows and compartment membership of resources (one per table that
 * gets rows), and the shape naming those tables. `only` (a condition) inserts them only when
 * it holds.
 */
function indexInserts(
  resources: readonly IndexedResource[],
  p: Param,
  only = '',
): { inserts: string[]; shape: string[] } {
  const inserts: string[] = [];
  const shape: string[] = [];
  const bulk = (
    table: string,
    columns: string[],
    casts: string[],
    pick: (r: IndexRows) => ReadonlyArray<readonly unknown[]>,
  ) => {
    const types: string[] = [];
    const ids: string[] = [];
    const data: unknown[][] = casts.map(() => []);
    for (const resource of resources) {
      for (const row of pick(resource.rows)) {
        types.push(resource.type);
        ids.push(resource.id);
        row.forEach((value, i) => data[i]?.push(value ?? null));
      }
    }
    if (types.length === 0) return;
    shape.push(table.replace(/^fhir_(idx_)?/, ''));
    const list = [types, ids, ...data]
      .map((values, i) => `${p(values)}::${i < 2 ? 'text' : casts[i - 2]}[]`)
      .join(', ');
    inserts.push(
      `INSERT INTO ${table} (resource_type, resource_id, ${columns.join(', ')}) SELECT * FROM unnest(${list})${only}`,
    );
  };
  bulk(
    'fhir_idx_token',
    ['code', 'system', 'value', 'blinded', 'text', 'grp'],
    ['text', 'text', 'text', 'boolean', 'text', 'int'],
    (r) => r.token.map((t) => [t.code, t.system, t.value, t.blinded, t.text, t.grp]),
  );
  bulk(
    'fhir_idx_string',
    ['code', 'value', 'exact', 'blinded', 'grp'],
    ['text', 'text', 'text', 'boolean', 'int'],
    (r) => r.string.map((t) => [t.code, t.value, t.exact, t.blinded, t.grp]),
  );
  bulk('fhir_idx_string_prefix', ['code', 'prefix'], ['text', 'text'], (r) =>
    r.prefix.map((t) => [t.code, t.prefix]),
  );
  bulk(
    'fhir_idx_date',
    ['code', 'low', 'high', 'day_blind', 'grp'],
    ['text', 'timestamptz', 'timestamptz', 'text', 'int'],
    (r) => r.date.map((t) => [t.code, instant(t.low), instant(t.high), t.dayBlind, t.grp]),
  );
  bulk(
    'fhir_idx_reference',
    ['code', 'target_type', 'target_id', 'reference', 'grp'],
    ['text', 'text', 'text', 'text', 'int'],
    (r) => r.reference.map((t) => [t.code, t.targetType, t.targetId, t.reference, t.grp]),
  );
  bulk(
    'fhir_idx_quantity',
    ['code', 'value', 'system', 'unit', 'grp'],
    ['text', 'numeric', 'text', 'text', 'int'],
    (r) => r.quantity.map((t) => [t.code, t.value, t.system, t.unit, t.grp]),
  );
  bulk('fhir_idx_number', ['code', 'value', 'grp'], ['text', 'numeric', 'int'], (r) =>
    r.number.map((t) => [t.code, t.value, t.grp]),
  );
  bulk('fhir_idx_uri', ['code', 'value', 'grp'], ['text', 'text', 'int'], (r) =>
    r.uri.map((t) => [t.code, t.value, t.grp]),
  );
  bulk('fhir_compartment', ['patient_id'], ['text'], (r) => r.patients.map((p) => [p]));
  const owned = resources.filter((r) => r.type === 'Patient' && r.rows.organizationId);
  if (owned.length > 0) {
    shape.push('patient_organization');
    inserts.push(
      `INSERT INTO fhir_patient_organization (patient_id, organization_id)
       SELECT * FROM unnest(${p(owned.map((r) => r.id))}::text[], ${p(owned.map((r) => r.rows.organizationId))}::text[])${only}`,
    );
  }
  return { inserts, shape };
}

export async function compartmentOf(q: Queryable, type: string, id: string): Promise<string[]> {
  const result = await q.query<{ patient_id: string }>(
    'SELECT patient_id FROM fhir_compartment WHERE resource_type = $1 AND resource_id = $2',
    [type, id],
  );
  return result.rows.map((r) => r.patient_id);
}

/**
 * Refreshes the planner's statistics of the store's tables. After a bulk load they describe
 * near-empty tables until autovacuum catches up, and searches planned on them can pick an
 * index that scans every row of a type.
 */
export async function analyzeStore(q: Queryable): Promise<void> {
  const tables = ['fhir_resource', 'fhir_resource_history', 'fhir_compartment', 'fhir_patient_organization'];
  await q.query(`ANALYZE ${[...tables, ...INDEX_TABLES].join(', ')}`);
}
