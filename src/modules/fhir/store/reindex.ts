import { extractIndex } from '../indexing/extract.js';
import { replaceIndexRows, VERSION_COLUMNS, type StoredVersion } from '../repo.js';
import { SYSTEM_CONTEXT, type FhirRuntime } from './context.js';
import { decode } from './read.js';
import { useRowScope } from './row-security.js';

export interface ReindexPosition {
  type: string;
  id: string;
}

/**
 * Recomputes the search index of current resources after the indexing rules change (e.g. the
 * composite parameters of migration fhir/0004), one batch in (type, id) order per short
 * transaction. The batch's rows are locked, so a concurrent write of the same resource waits
 * and then indexes its own new version. Returns how many were re-indexed and where to go on,
 * or null when the last batch is done.
 */
export async function reindexBatch(
  rt: FhirRuntime,
  after: ReindexPosition | null,
  batchSize = 200,
): Promise<{ reindexed: number; next: ReindexPosition | null }> {
  return rt.db.transaction(async (tx) => {
    await useRowScope(tx, SYSTEM_CONTEXT.scope);
    const { rows } = await tx.query<StoredVersion>(
      `SELECT ${VERSION_COLUMNS} FROM fhir_resource WHERE NOT deleted
         AND (resource_type, id) > ($1, $2) ORDER BY resource_type, id LIMIT ${batchSize} FOR UPDATE`,
      [after?.type ?? '', after?.id ?? ''],
    );
    if (rows.length === 0) return { reindexed: 0, next: null };
    await replaceIndexRows(
      tx,
      rows.map((row) => ({
        type: row.resource_type,
        id: row.id,
        rows: extractIndex(decode(rt, row), rt.registry, rt.blind),
      })),
    );
    const last = rows[rows.length - 1] as StoredVersion;
    return {
      reindexed: rows.length,
      next: rows.length < batchSize ? null : { type: last.resource_type, id: last.id },
    };
  });
}
