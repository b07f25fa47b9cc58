import type { Bundle, BundleEntry } from 'fhir/r4.js';
import { errors } from '../../../platform/http/errors.js';
import { VERSION_COLUMNS, type StoredVersion } from '../repo.js';
import { Params, scopeSql } from '../search/scope.js';
import { DEFAULT_COUNT, MAX_COUNT } from '../search/parse.js';
import { audit, type CallContext, type FhirRuntime } from './context.js';
import { decode } from './read.js';
import { scopedQueryable } from './row-security.js';

export interface HistoryRequest {
  type?: string;
  id?: string;
  since?: string;
  count?: string;
  cursor?: string;
}

type HistoryRow = StoredVersion & { method: string; patients: string[] };

function parseCursor(text: string): [string, string, string, number] {
  const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
  const [at, type, id, version] = parts;
  if (parts.length !== 4 || !at || !type || !id || !Number.isInteger(Number(version))) {
    throw errors.badRequest('_cursor is not a cursor this server issued');
  }
  return [at, type, id, Number(version)];
}

/** Instance, type or system history, newest first, with keyset paging. */
export async function history(
  rt: FhirRuntime,
  ctx: CallContext,
  req: HistoryRequest,
  selfUrl: string,
): Promise<Bundle> {
  const params = new Params();
  const where: string[] = [];
  if (req.type) where.push(`h.resource_type = ${params.add(req.type)}`);
  if (req.id) where.push(`h.id = ${params.add(req.id)}`);
  if (req.since) {
    const since = new Date(req.since);
    if (Number.isNaN(since.getTime())) throw errors.badRequest('_since must be an instant');
    where.push(`h.last_updated >= ${params.add(since)}::timestamptz`);
  }
  if (req.cursor) {
    const [at, type, id, version] = parseCursor(req.cursor);
    where.push(
      `(h.last_updated, h.resource_type, h.id, h.version) < (${params.add(at)}::timestamptz, ${params.add(type)}, ${params.add(id)}, ${params.add(version)}::int)`,
    );
  }
  where.push(`EXISTS (SELECT 1 FROM fhir_resource r WHERE r.resource_type = h.resource_type AND r.id = h.id
    AND ${scopeSql(ctx.scope, 'r', params)})`);
  const count = Math.min(
    req.count === undefined ? DEFAULT_COUNT : Math.max(1, Number(req.count) || DEFAULT_COUNT),
    MAX_COUNT,
  );
  const cols = VERSION_COLUMNS.split(', ')
    .map((c) => `h.${c}`)
    .join(', ');
  const result = await scopedQueryable(rt.db, ctx.scope).query<HistoryRow>(
    `SELECT ${cols}, h.method, ARRAY(SELECT c.patient_id FROM fhir_compartment c
       WHERE c.resource_type = h.resource_type AND c.resource_id = h.id) AS patients
     FROM fhir_resource_history h WHERE ${where.join(' AND ')}
     ORDER BY h.last_updated DESC, h.resource_type DESC, h.id DESC, h.version DESC LIMIT ${count + 1}`,
    params.values,
  );
  const rows = result.rows.slice(0, count);
  const entries: BundleEntry[] = rows.map((row) => {
    const url = `${row.resource_type}/${row.id}`;
    const fullUrl = `${rt.baseUrl}/${url}`;
    const response = {
      status: row.deleted ? '204' : row.version === 1 ? '201' : '200',
      etag: `W/"${row.version}"`,
      lastModified: row.last_updated.toISOString(),
    };
    if (row.deleted) return { fullUrl, request: { method: 'DELETE', url }, response };
    return {
      fullUrl,
      resource: decode(rt, row),
      request: {
        method: row.method === 'POST' ? 'POST' : row.method === 'PATCH' ? 'PATCH' : 'PUT',
        url: row.method === 'POST' ? row.resource_type : url,
      },
      response,
    } as BundleEntry;
  });
  const links = [{ relation: 'self', url: selfUrl }];
  const last = rows[rows.length - 1];
  if (result.rows.length > count && last) {
    const cursor = Buffer.from(
      `${last.last_updated.toISOString()}|${last.resource_type}|${last.id}|${last.version}`,
    ).toString('base64url');
    const next = new URL(selfUrl);
    next.searchParams.set('_cursor', cursor);
    links.push({ relation: 'next', url: next.toString() });
  }
  await audit(rt, ctx, {
    action: 'fhir.history',
    outcome: 'success',
    patientIds: [...new Set(rows.flatMap((r) => r.patients))],
    resource: { type: req.type ?? '*', ...(req.id ? { id: req.id } : {}) },
    details: { entries: rows.length },
  });
  return { resourceType: 'Bundle', type: 'history', link: links, entry: entries };
}
