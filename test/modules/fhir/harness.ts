import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../../src/config.js';
import type { AuditRecord, AuditTrail } from '../../../src/platform/audit/port.js';
import { Keyring } from '../../../src/platform/crypto/keyring.js';
import { migrate } from '../../../src/platform/db/migrations.js';
import type { Database, Queryable, QueryOptions } from '../../../src/platform/db/types.js';
import type { DomainEvent, EventPublisher, NewEvent } from '../../../src/platform/events/port.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import {
  fhirMigrations,
  fhirRuntime,
  registerFhirRoutes,
  type FhirAccess,
  type FhirRuntime,
} from '../../../src/modules/fhir/index.js';
import { rowScopeSettings } from '../../../src/modules/fhir/store/row-security.js';
import { testDatabase } from '../../helpers/db.js';

export const BASE = 'http://iris.test/fhir';

/**
 * For a test's own look at the resource tables: every row, past the row-level security that a
 * PostgreSQL server applies (a pooled connection otherwise keeps whatever scope it last had).
 */
export const EVERY_ROW: QueryOptions = { settings: rowScopeSettings({ kind: 'all' }) };

/** Records audit entries, and whether each was written inside a transaction. */
export class RecordingAudit implements AuditTrail {
  readonly entries: Array<AuditRecord & { inTransaction: boolean }> = [];
  async record(entry: AuditRecord, tx?: Queryable): Promise<void> {
    this.entries.push({ ...entry, inTransaction: tx !== undefined });
  }
  async recordMany(entries: readonly AuditRecord[], tx: Queryable): Promise<void> {
    for (const entry of entries) await this.record(entry, tx);
  }
}

/** Records published events (the outbox is another module's). */
export class RecordingEvents implements EventPublisher {
  readonly events: NewEvent[] = [];
  async publish<P>(_tx: unknown, event: NewEvent<P>): Promise<DomainEvent<P>> {
    this.events.push(event as NewEvent);
    return {
      id: String(this.events.length),
      type: event.type,
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      actor: event.actor ?? null,
      aggregate: event.aggregate,
      correlationId: event.correlationId ?? null,
      causationId: null,
      payload: event.payload,
    };
  }
  async publishMany(tx: unknown, events: ReadonlyArray<NewEvent<unknown>>): Promise<DomainEvent<unknown>[]> {
    const out: DomainEvent<unknown>[] = [];
    for (const event of events) out.push(await this.publish(tx, event));
    return out;
  }
}

export interface FhirHarness {
  app: FastifyInstance;
  rt: FhirRuntime;
  db: Database;
  keyring: Keyring;
  audit: RecordingAudit;
  events: RecordingEvents;
  close(): Promise<void>;
}

/** The platform HTTP app with only the FHIR routes, on an isolated migrated database. */
export async function fhirHarness(
  options: { access?: FhirAccess; requireCvx?: boolean; rateLimitMax?: string; baseUrl?: string } = {},
): Promise<FhirHarness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-fhir-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    IRIS_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: options.rateLimitMax ?? '100000',
  });
  const handle = await testDatabase();
  await migrate(handle.db, fhirMigrations);
  const keyring = await Keyring.open(join(dataDir, 'keys'), { create: true });
  const audit = new RecordingAudit();
  const events = new RecordingEvents();
  const rt = fhirRuntime({
    db: handle.db,
    keyring,
    baseUrl: options.baseUrl ?? BASE,
    audit,
    events,
    validation: { requireCvx: options.requireCvx ?? true },
  });
  const app = await createHttpApp({
    config,
    logger: createLogger('silent'),
    metrics: createMetrics(() => handle.db.stats()),
    version: 'test',
  });
  await app.register(async (scope) => {
    registerFhirRoutes(scope, rt, options.access ?? {});
  });
  await app.ready();
  return {
    app,
    rt,
    db: handle.db,
    keyring,
    audit,
    events,
    async close() {
      await app.close();
      await handle.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const FHIR = { 'content-type': 'application/fhir+json' };

/** PUT at the resource's own id; it must be stored (created or updated). */
export async function putResource(
  h: FhirHarness,
  resource: { resourceType: string; id: string; [key: string]: unknown },
): Promise<void> {
  const res = await h.app.inject({
    method: 'PUT',
    url: `/fhir/${resource.resourceType}/${resource.id}`,
    headers: FHIR,
    payload: resource,
  });
  assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
}

export function patient(family: string, given: string, extra: Record<string, unknown> = {}) {
  return { resourceType: 'Patient', name: [{ family, given: [given] }], ...extra };
}

export function immunization(
  patientId: string,
  cvx = '208',
  date = '2021-04-01',
  extra: Record<string, unknown> = {},
) {
  return {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: date,
    ...extra,
  };
}
