import { sealedOf, type StoredVersion } from '../repo.js';
import { SYSTEM_CONTEXT, type FhirRuntime } from './context.js';
import { scopedQueryable, useRowScope } from './row-security.js';

const TABLES = ['fhir_resource', 'fhir_resource_history'] as const;

/**
 * Moves records encrypted under older key-encryption keys to the active one, a batch at a
 * time (each batch its own short transaction, rows locked with SKIP LOCKED so several workers
 * and live traffic can run alongside). Only the wrapped data key changes. Returns how many
 * rows were re-wrapped; run until it returns 0, then the old keys can be retired.
 */
export async function rewrapBatch(rt: FhirRuntime, batchSize = 500): Promise<number> {
  const active = rt.keyring.active('data-encryption').kid;
  let moved = 0;
  for (const table of TABLES) {
    moved += await rt.db.transaction(async (tx) => {
      await useRowScope(tx, SYSTEM_CONTEXT.scope);
      const rows = await tx.query<StoredVersion>(
        `SELECT resource_type, id, version, kid, wrapped_key, iv, content FROM ${table}
         WHERE kid <> $1 LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`,
        [active],
      );
      for (const row of rows.rows) {
        const sealed = rt.cipher.rewrap(row.resource_type, row.id, row.version, sealedOf(row));
        await tx.query(
          `UPDATE ${table} SET kid = $1, wrapped_key = $2 WHERE resource_type = $3 AND id = $4 AND version = $5`,
          [sealed.kid, sealed.wrappedKey, row.resource_type, row.id, row.version],
        );
      }
      return rows.rows.length;
    });
  }
  return moved;
}

/** Key ids still in use by stored records (a key may be retired only when absent here). */
export async function keysInUse(rt: FhirRuntime): Promise<string[]> {
  const result = await scopedQueryable(rt.db, SYSTEM_CONTEXT.scope).query<{ kid: string }>(
    'SELECT DISTINCT kid FROM fhir_resource UNION SELECT DISTINCT kid FROM fhir_resource_history ORDER BY 1',
  );
  return result.rows.map((r) => r.kid);
}
