import type { Queryable } from '../../platform/db/types.js';
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

export async function readCurrent(
  q: Queryable,
  type: string,
  id: string,
  forUpdate = false,
): Promise<StoredVersion | undefined> {
  const result = await q.query<StoredVersion>(
    `SELECT ${VERSION_COLUMNS} FROM fhir_resource WHERE resource_type = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [type, id],
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

export async function insertVersion(q: Queryable, v: NewVersion): Promise<void> {
  const params = [
    v.type,
    v.id,
    v.version,
    v.lastUpdated,
    v.deleted,
    v.sealed.kid,
    v.sealed.wrappedKey,
    v.sealed.iv,
    v.sealed.content,
  ];
  // One round trip: the history row and the current row together.
  await q.query(
    `WITH history AS (
       INSERT INTO fhir_resource_history (${VERSION_COLUMNS}, method) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10))
     INSERT INTO fhir_resource (${VERSION_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
     ON CONFLICT (resource_type, id) DO UPDATE SET version = EXCLUDED.version,
       last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, kid = EXCLUDED.kid,
       wrapped_key = EXCLUDED.wrapped_key, iv = EXCLUDED.iv, content = EXCLUDED.content`,
    [...params, v.method],
    { name: 'fhir_insert_version' },
  );
}

/** Open period ends are stored as PostgreSQL's infinities. */
function instant(date: Date): string {
  const t = date.getTime();
  if (t <= -8.64e15) return '-infinity';
  if (t >= 8.64e15) return 'infinity';
  return date.toISOString();
}

/** Replaces the index rows and compartment membership of one resource. */
export async function writeIndex(
  q: Queryable,
  type: string,
  id: string,
  rows: IndexRows | null,
  /** False for a resource that never had a version: there are no rows to replace. */
  replace = true,
): Promise<void> {
  if (replace) {
    // One round trip for every table: round trips, not rows, dominate a single write.
    const deletes = [
      ...INDEX_TABLES.map((table) => `DELETE FROM ${table} WHERE resource_type = $1 AND resource_id = $2`),
      'DELETE FROM fhir_compartment WHERE resource_type = $1 AND resource_id = $2',
      ...(type === 'Patient' ? ['DELETE FROM fhir_patient_organization WHERE patient_id = $2'] : []),
    ];
    await q.query(`WITH ${deletes.map((sql, i) => `d${i} AS (${sql})`).join(', ')} SELECT 1`, [type, id]);
  }
  if (!rows) return;
  const params: unknown[] = [type, id];
  const inserts: string[] = [];
  const bulk = (table: string, columns: string[], casts: string[], data: unknown[][]) => {
    if (data.length === 0) return;
    const list = casts.map((c, i) => `$${params.push(data.map((row) => row[i] ?? null))}::${c}[]`).join(', ');
    inserts.push(
      `INSERT INTO ${table} (resource_type, resource_id, ${columns.join(', ')}) SELECT $1, $2, * FROM unnest(${list})`,
    );
  };
  bulk(
    'fhir_idx_token',
    ['code', 'system', 'value', 'blinded', 'text'],
    ['text', 'text', 'text', 'boolean', 'text'],
    rows.token.map((r) => [r.code, r.system, r.value, r.blinded, r.text]),
  );
  bulk(
    'fhir_idx_string',
    ['code', 'value', 'exact', 'blinded'],
    ['text', 'text', 'text', 'boolean'],
    rows.string.map((r) => [r.code, r.value, r.exact, r.blinded]),
  );
  bulk(
    'fhir_idx_string_prefix',
    ['code', 'prefix'],
    ['text', 'text'],
    rows.prefix.map((r) => [r.code, r.prefix]),
  );
  bulk(
    'fhir_idx_date',
    ['code', 'low', 'high', 'day_blind'],
    ['text', 'timestamptz', 'timestamptz', 'text'],
    rows.date.map((r) => [r.code, instant(r.low), instant(r.high), r.dayBlind]),
  );
  bulk(
    'fhir_idx_reference',
    ['code', 'target_type', 'target_id', 'reference'],
    ['text', 'text', 'text', 'text'],
    rows.reference.map((r) => [r.code, r.targetType, r.targetId, r.reference]),
  );
  bulk(
    'fhir_idx_quantity',
    ['code', 'value', 'system', 'unit'],
    ['text', 'numeric', 'text', 'text'],
    rows.quantity.map((r) => [r.code, r.value, r.system, r.unit]),
  );
  bulk(
    'fhir_idx_number',
    ['code', 'value'],
    ['text', 'numeric'],
    rows.number.map((r) => [r.code, r.value]),
  );
  bulk(
    'fhir_idx_uri',
    ['code', 'value'],
    ['text', 'text'],
    rows.uri.map((r) => [r.code, r.value]),
  );
  if (rows.patients.length > 0) {
    inserts.push(
      `INSERT INTO fhir_compartment (resource_type, resource_id, patient_id) SELECT $1, $2, unnest($${params.push(rows.patients)}::text[])`,
    );
  }
  if (type === 'Patient' && rows.organizationId) {
    inserts.push(
      `INSERT INTO fhir_patient_organization (patient_id, organization_id) VALUES ($2, $${params.push(rows.organizationId)})`,
    );
  }
  if (inserts.length === 0) return;
  await q.query(`WITH ${inserts.map((sql, i) => `i${i} AS (${sql})`).join(', ')} SELECT 1`, params);
}

export async function compartmentOf(q: Queryable, type: string, id: string): Promise<string[]> {
  const result = await q.query<{ patient_id: string }>(
    'SELECT patient_id FROM fhir_compartment WHERE resource_type = $1 AND resource_id = $2',
    [type, id],
  );
  return result.rows.map((r) => r.patient_id);
}
