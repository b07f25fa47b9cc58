import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import type { PatientScope } from '../../src/platform/auth/port.js';
import type { Database, QueryOptions } from '../../src/platform/db/types.js';
import { createFhirStore } from '../../src/modules/fhir/service.js';
import { fhirRuntime, SYSTEM_CONTEXT, type CallContext } from '../../src/modules/fhir/store/context.js';
import { rowScopeSettings } from '../../src/modules/fhir/store/row-security.js';
import { runSearch } from '../../src/modules/fhir/search/execute.js';
import { parseSearch } from '../../src/modules/fhir/search/parse.js';
import { fhirHarness, type FhirHarness } from '../modules/fhir/harness.js';

const PATIENTS = 4000;
const GIVEN = ['Ava', 'Liam', 'Mia', 'Noah', 'Emma', 'Oliver', 'Sofia', 'Elijah', 'Isla', 'Lucas'];
const SCOPE: PatientScope = { kind: 'organizations', organizationIds: ['plan-org'], extraPatientIds: [] };

interface PlanNode {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

function probes(node: PlanNode, relation: string): number {
  const own = node['Relation Name'] === relation ? (node['Actual Loops'] ?? 0) : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + probes(child, relation), 0);
}

// A family prefix shared by many patients, narrowed by a given name: the resource rows must be
// read for the patients both match, not for every patient the family prefix matches.
describe('Patient?family=&given= on PostgreSQL reads only the resources both names match', () => {
  let h: FhirHarness;
  let captured: { sql: string; params: readonly unknown[] } | null = null;

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'this test needs DATABASE_URL (a PostgreSQL server)');
    h = await fhirHarness();
    const store = createFhirStore(h.rt);
    const patients: Resource[] = Array.from({ length: PATIENTS }, (_, i) => ({
      resourceType: 'Patient',
      id: `plan-${i}`,
      // `Lee1` starts 111 family names (Lee1, Lee10–19, Lee100–199) of 10 patients each.
      name: [{ family: `Lee${i % 400}`, given: [GIVEN[Math.floor(i / 400) % 10]!] }],
      managingOrganization: { reference: 'Organization/plan-org' },
    }));
    await h.db.transaction((tx) =>
      store.createMany(SYSTEM_CONTEXT, tx, [
        { resourceType: 'Organization', id: 'plan-org', name: 'Plan clinic' } as Resource,
        ...patients,
      ]),
    );
    // This schema's tables only: a database-wide ANALYZE trips over the schemas other test
    // files drop meanwhile.
    await h.db.exec(
      'ANALYZE fhir_resource, fhir_idx_string_prefix, fhir_compartment, fhir_patient_organization',
    );
  });
  after(() => h?.close());

  test('the index rows are intersected first: one resource probe per patient both names match', async () => {
    const spy = new Proxy(h.db, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return (sql: string, params?: readonly unknown[], options?: QueryOptions) => {
            if (sql.includes('FROM fhir_resource r WHERE')) captured = { sql, params: params ?? [] };
            return target.query(sql, params, options);
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as Database;
    const rt = fhirRuntime({ db: spy, keyring: h.rt.keyring, baseUrl: h.rt.baseUrl });
    const ctx: CallContext = { actor: { type: 'user', id: 'plan-nurse' }, scope: SCOPE };
    const request = parseSearch(
      rt.registry,
      'Patient',
      { family: 'Lee1', given: 'Ava', _count: '500' },
      true,
    );
    const found = await runSearch(rt, ctx, request);
    assert.equal(found.matches.length, 111);
    assert.ok(captured, 'the search statement was seen');
    const { sql, params } = captured as { sql: string; params: readonly unknown[] };
    const plan = await h.db.transaction(async (tx) => {
      await tx.useSettings(rowScopeSettings(SCOPE));
      const { rows } = await tx.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
        params,
      );
      return rows[0]!['QUERY PLAN'][0]!.Plan;
    });
    const read = probes(plan, 'fhir_resource');
    assert.ok(read >= 111 && read <= 120, `fhir_resource read ${read} times: ${JSON.stringify(plan)}`);
  });
});
