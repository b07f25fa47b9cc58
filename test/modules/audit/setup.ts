import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditTrail, type AuditOptions, type AuditService } from '../../../src/modules/audit/index.js';
import { auditMigrations } from '../../../src/modules/audit/schema.js';
import { Keyring } from '../../../src/platform/crypto/keyring.js';
import { migrate } from '../../../src/platform/db/migrations.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { LocalDiskStorage } from '../../../src/platform/storage/local-disk.js';
import type { AuditRecord } from '../../../src/platform/audit/port.js';
import { testDatabase } from '../../helpers/db.js';

export interface AuditFixture {
  handle: DatabaseHandle;
  audit: AuditService;
  keyring: Keyring;
  dir: string;
  storage: LocalDiskStorage;
  close(): Promise<void>;
}

// Generating a keyring (RSA-3072 among others) is slow: one per test process.
let sharedKeyring: Promise<Keyring> | undefined;
function keyringOnce(): Promise<Keyring> {
  sharedKeyring ??= mkdtemp(join(tmpdir(), 'iris-audit-keys-')).then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return Keyring.open(dir, { create: true });
  });
  return sharedKeyring;
}

/** A migrated database, a development keyring and an audit service without timers. */
export async function auditFixture(options: AuditOptions = {}): Promise<AuditFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'iris-audit-'));
  const handle = await testDatabase();
  await migrate(handle.db, auditMigrations);
  const keyring = await keyringOnce();
  const storage = new LocalDiskStorage({ root: join(dir, 'objects') });
  const audit = createAuditTrail(handle.db, keyring, storage, createLogger('silent'), {
    timer: false,
    dataDir: dir,
    ...options,
  });
  return {
    handle,
    audit,
    keyring,
    dir,
    storage,
    async close() {
      await audit.close();
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function sampleRecord(i: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    action: 'fhir.read',
    outcome: 'success',
    actor: { type: 'user', id: `user-${i % 7}` },
    patientIds: [`pat-${i % 13}`],
    resource: { type: 'Immunization', id: `imm-${i}`, versionId: '1' },
    purposeOfUse: 'TREAT',
    sourceIp: '10.1.2.3',
    userAgent: 'test/1.0',
    requestId: `req-${i}`,
    ...overrides,
  };
}

const GUARDED = ['audit_log', 'audit_checkpoints', 'audit_checkpoint_exports', 'audit_archives'];

/**
 * Runs `sql` with the append-only triggers out of the way, as someone with database access
 * would: embedded, as the superuser skipping triggers; on a server, as the tables' owner
 * disabling them for the length of the transaction (the test role is no superuser).
 */
export async function tamper(handle: DatabaseHandle, sql: string, params: unknown[] = []): Promise<void> {
  await handle.db.transaction(async (tx) => {
    if (handle.mode === 'server') {
      for (const table of GUARDED) await tx.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    } else {
      await tx.query('SET LOCAL session_replication_role = replica');
    }
    await tx.query(sql, params);
    if (handle.mode === 'server') {
      for (const table of GUARDED) await tx.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
    }
  });
}
