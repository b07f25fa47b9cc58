import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import pg from 'pg';
import type { PatientScope } from '../../src/platform/auth/port.js';
import { rowSecurityExemptRole, settingsStatement } from '../../src/platform/db/session-settings.js';
import { isAccessRefused } from '../../src/platform/db/sql-errors.js';
import type { Queryable } from '../../src/platform/db/types.js';
import { createFhirStore } from '../../src/modules/fhir/service.js';
import { SYSTEM_CONTEXT } from '../../src/modules/fhir/store/context.js';
import { rowScopeSettings, useRowScope } from '../../src/modules/fhir/store/row-security.js';
import { immunizationResource, patientResource } from '../helpers/fixtures.js';
import { sentStatements } from '../helpers/statements.js';
import { fhirHarness, type FhirHarness } from '../modules/fhir/harness.js';

const ORG_A: PatientScope = { kind: 'organizations', organizationIds: ['rls-a'], extraPatientIds: [] };

/** A query that "forgot" the store's access filter: every row of a table, as the policy allows. */
async function everyRow(q: Queryable, table: string, scope?: PatientScope): Promise<string[]> {
  const { rows } = await q.query<{ ref: string }>(
    `SELECT resource_type || '/' || id AS ref FROM ${table} ORDER BY 1`,
    [],
    scope ? { settings: rowScopeSettings(scope) } : {},
  );
  return [...new Set(rows.map((r) => r.ref))];
}

describe('row-level security on the FHIR resource tables (PostgreSQL server)', () => {
  let h: FhirHarness;
  const orgs = ['Organization/rls-a', 'Organization/rls-b'];
  const chartA = ['Immunization/rls-ia', 'Patient/rls-pa'];
  const chartB = ['Immunization/rls-ib', 'Patient/rls-pb'];

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
    h = await fhirHarness();
    const store = createFhirStore(h.rt);
    const resources = [
      { resourceType: 'Organization', id: 'rls-a', name: 'Clinic A' },
      { resourceType: 'Organization', id: 'rls-b', name: 'Clinic B' },
      patientResource('rls-pa', '2019-03-04', 'rls-a'),
      patientResource('rls-pb', '2018-07-08', 'rls-b'),
      immunizationResource('rls-ia', 'rls-pa', '08', '2019-03-05'),
      immunizationResource('rls-ib', 'rls-pb', '08', '2018-07-09'),
    ] as Resource[];
    await h.db.transaction((tx) => store.createMany(SYSTEM_CONTEXT, tx, resources));
    // A second version, so the history table holds more than one row per resource.
    await h.db.transaction((tx) =>
      store.update(SYSTEM_CONTEXT, tx, {
        ...immunizationResource('rls-ib', 'rls-pb', '08', '2018-07-10'),
      } as Resource),
    );
  });
  after(() => h?.close());

  test('the application role is subject to the policies (neither superuser nor BYPASSRLS)', async () => {
    assert.equal(await rowSecurityExemptRole(h.db), null);
  });

  test("an organization's scope sees its own patients' records and the directory, nothing of another organization", async () => {
    for (const table of ['fhir_resource', 'fhir_resource_history']) {
      assert.deepEqual(await everyRow(h.db, table, ORG_A), [...chartA, ...orgs].sort(), table);
    }
  });

  test('a patient scope sees that patient only; an extra patient widens an organization scope by one', async () => {
    assert.deepEqual(
      await everyRow(h.db, 'fhir_resource', { kind: 'patients', patientIds: ['rls-pb'] }),
      [...chartB, ...orgs].sort(),
    );
    const widened: PatientScope = { ...ORG_A, extraPatientIds: ['rls-pb'] };
    assert.deepEqual(await everyRow(h.db, 'fhir_resource', widened), [...chartA, ...chartB, ...orgs].sort());
  });

  /** A new connection to the test's schema, which has never had a scope set. */
  async function freshConnection(): Promise<pg.Client> {
    const { rows } = await h.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    const client = new pg.Client({
      connectionString: process.env.DATABASE_URL,
      options: `-c search_path=${rows[0]?.schema},public`,
    });
    await client.connect();
    return client;
  }

  const refs = (rows: Array<{ ref: string }>) => [...new Set(rows.map((r) => r.ref))];
  const ALL_ROWS = "SELECT resource_type || '/' || id AS ref FROM fhir_resource_history ORDER BY 1";

  test('no scope at all, or the empty one, sees no patient data', async () => {
    const client = await freshConnection();
    try {
      assert.deepEqual(refs((await client.query<{ ref: string }>(ALL_ROWS)).rows), orgs);
    } finally {
      await client.end();
    }
    assert.deepEqual(await everyRow(h.db, 'fhir_resource', { kind: 'none' }), orgs);
  });

  test('the system scope sees everything', async () => {
    assert.deepEqual(
      await everyRow(h.db, 'fhir_resource', SYSTEM_CONTEXT.scope),
      [...chartA, ...chartB, ...orgs].sort(),
    );
  });

  test('inside a write transaction the scope also bounds what an unfiltered UPDATE can touch', async () => {
    const touched = await h.db.transaction(async (tx) => {
      await useRowScope(tx, ORG_A);
      const result = await tx.query('UPDATE fhir_resource SET deleted = deleted');
      return result.rowCount;
    });
    assert.equal(touched, chartA.length + orgs.length);
  });

  test('a transaction-local scope ends with its transaction', async () => {
    const client = await freshConnection();
    try {
      await client.query('BEGIN');
      const set = settingsStatement(rowScopeSettings(SYSTEM_CONTEXT.scope), true);
      await client.query(set.sql, set.params);
      assert.equal(refs((await client.query<{ ref: string }>(ALL_ROWS)).rows).length, 6);
      await client.query('COMMIT');
      assert.deepEqual(refs((await client.query<{ ref: string }>(ALL_ROWS)).rows), orgs);
    } finally {
      await client.end();
    }
  });

  test("a create for another organization's patient is refused by the database and stores nothing", async () => {
    const store = createFhirStore(h.rt);
    const ctx = { actor: { type: 'user' as const, id: 'rls-user' }, scope: ORG_A };
    const { texts } = await sentStatements(async () => {
      await assert.rejects(
        h.db.transaction((tx) =>
          store.create(
            ctx,
            tx,
            immunizationResource('rls-refused', 'rls-pb', '08', '2019-01-01') as Resource,
          ),
        ),
        (error: unknown) => isAccessRefused(error) && /outside your access/.test(error.message),
      );
      // Each written as one statement (settings aside): the guard check and the rows, no BEGIN or COMMIT.
      const own = await h.db.transaction((tx) =>
        store.create(ctx, tx, immunizationResource('rls-own', 'rls-pa', '08', '2019-01-02') as Resource),
      );
      assert.equal(own.versionId, '1');
    });
    const statements = texts.filter((t) => !t.includes('set_config'));
    assert.equal(statements.length, 2, statements.join('\n---\n'));
    assert.ok(statements.every((t) => t.startsWith('WITH ok AS (SELECT fhir_require_write_access(')));
    const stored = await h.db.query<{ id: string }>(
      `SELECT id FROM fhir_resource WHERE id IN ('rls-refused', 'rls-own') UNION ALL
       SELECT id FROM fhir_resource_history WHERE id IN ('rls-refused', 'rls-own')`,
      [],
      { settings: rowScopeSettings(SYSTEM_CONTEXT.scope) },
    );
    assert.deepEqual(stored.rows.map((r) => r.id).sort(), ['rls-own', 'rls-own']);
    await h.db.transaction((tx) => store.delete(SYSTEM_CONTEXT, tx, 'Immunization', 'rls-own'));
  });

  test('an update goes out as its lock with BEGIN, the locked row with its patients, the index cleared, the write, COMMIT', async () => {
    const store = createFhirStore(h.rt);
    const { value: written, texts } = await sentStatements(() =>
      h.db.transaction((tx) =>
        store.update(
          SYSTEM_CONTEXT,
          tx,
          immunizationResource('rls-ia', 'rls-pa', '08', '2019-03-06') as Resource,
        ),
      ),
    );
    assert.equal(written.versionId, '2');
    assert.equal(texts.length, 5, texts.join('\n---\n'));
    assert.match(texts[0] as string, /^BEGIN; SELECT set_config\(.*; SELECT pg_advisory_xact_lock/s);
    assert.match(texts[1] as string, /FOR UPDATE OF r$/);
    assert.equal(texts[4], 'COMMIT');
    // The patients of the version it replaced were read with the lock: the write still concerns them.
    const { rows } = await h.db.query<{ patient_id: string }>(
      "SELECT patient_id FROM fhir_compartment WHERE resource_type = 'Immunization' AND resource_id = 'rls-ia'",
    );
    assert.deepEqual(
      rows.map((r) => r.patient_id),
      ['rls-pa'],
    );
  });

  test("the store's own reads agree: another organization's patient is not found", async () => {
    const store = createFhirStore(h.rt);
    const ctx = { actor: { type: 'user' as const, id: 'rls-user' }, scope: ORG_A };
    await assert.rejects(store.read(ctx, 'Patient', 'rls-pb'), /not known/);
    const found = await store.search(ctx, 'Immunization', {});
    assert.deepEqual(
      found.map((r) => r.id),
      ['rls-ia'],
    );
  });
});
