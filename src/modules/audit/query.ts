import type { AuditOutcome } from '../../platform/audit/port.js';
import type { Queryable } from '../../platform/db/types.js';
import type { ChainedEntry } from './chain.js';

export interface AuditQuery {
  actor?: string;
  patient?: string;
  /** Exact action, or a prefix ending in `.*` (`fhir.*`). */
  action?: string | string[];
  outcome?: AuditOutcome;
  /** `recorded_at` bounds: from inclusive, to exclusive. */
  from?: Date;
  to?: Date;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  limit?: number;
  /** Newest first (default) or oldest first. */
  order?: 'desc' | 'asc';
}

export interface AuditEntryView extends ChainedEntry {
  hash: string;
}

export interface AuditPage {
  entries: AuditEntryView[];
  nextCursor: string | null;
}

export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`s:${seq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^s:(\d{1,16})$/.exec(text);
  if (!match) throw new InvalidCursorError('the cursor is not one this server issued');
  return Number(match[1]);
}

/** Builds the WHERE clause shared by queries and reports; values always go in as parameters. */
export function whereClause(q: AuditQuery, params: unknown[]): string {
  const conditions: string[] = [];
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (q.actor) conditions.push(`doc->'actor'->>'id' = ${add(q.actor)}`);
  if (q.patient) conditions.push(`doc->'patientIds' @> ${add(JSON.stringify([q.patient]))}::jsonb`);
  const actions = q.action === undefined ? [] : Array.isArray(q.action) ? q.action : [q.action];
  if (actions.length > 0) {
    const exact = actions.filter((a) => !a.endsWith('.*'));
    const prefixes = actions
      .filter((a) => a.endsWith('.*'))
      .map((a) => `${a.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`);
    const parts: string[] = [];
    if (exact.length > 0) parts.push(`doc->>'action' = ANY(${add(exact)}::text[])`);
    for (const p of prefixes) parts.push(`doc->>'action' LIKE ${add(p)}`);
    conditions.push(`(${parts.join(' OR ')})`);
  }
  if (q.outcome) conditions.push(`doc->>'outcome' = ${add(q.outcome)}`);
  if (q.from) conditions.push(`recorded_at >= ${add(q.from.toISOString())}`);
  if (q.to) conditions.push(`recorded_at < ${add(q.to.toISOString())}`);
  return conditions.length > 0 ? conditions.join(' AND ') : 'true';
}

/** Entries matching the filters, one page, keyset-paged by seq (stable while the log grows). */
export async function queryEntries(db: Queryable, q: AuditQuery): Promise<AuditPage> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 1000);
  const order = q.order ?? 'desc';
  const params: unknown[] = [];
  let where = whereClause(q, params);
  if (q.cursor) {
    params.push(decodeCursor(q.cursor));
    where += ` AND seq ${order === 'desc' ? '<' : '>'} $${params.length}`;
  }
  params.push(limit + 1);
  const { rows } = await db.query<{ seq: number; hash: string; doc: ChainedEntry }>(
    `SELECT seq, hash, doc FROM audit_log WHERE ${where} ORDER BY seq ${order === 'desc' ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    entries: page.map((r) => ({ ...r.doc, hash: r.hash })),
    nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
  };
}
