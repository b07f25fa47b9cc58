import { registryMigrations } from '../../../src/modules/registry/schema.js';
import { migrate, type Migration } from '../../../src/platform/db/migrations.js';
import type { Database } from '../../../src/platform/db/types.js';

/** Two registries' ids, for tests of the submission queue's SQL without the app around it. */
export const ENDPOINTS = [
  '00000000-0000-4000-8000-00000000000a',
  '00000000-0000-4000-8000-00000000000b',
] as const;

/** The registry tables (all migrations, or the ones given) with the two registries of ENDPOINTS. */
export async function registryTables(
  db: Database,
  migrations: Migration[] = registryMigrations,
): Promise<void> {
  await migrate(db, migrations);
  for (const [i, id] of ENDPOINTS.entries()) {
    await db.query(
      `INSERT INTO registry_endpoints (id, name, transport, url, sender_application, sender_facility,
         receiver_application, receiver_facility, processing_id, credentials_kind, timeout_ms,
         rate_limit_per_second, max_concurrent, max_attempts, enabled)
       VALUES ($1, $2, 'fhir', 'http://127.0.0.1:9/fhir', 'IRIS', 'F', 'IIS', 'S', 'T', 'none', 1000, 10, 2, 3, true)`,
      [id, `Registry ${i}`],
    );
  }
}
