import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import { IrisError } from '../../../src/platform/http/errors.js';
import { createFhirStore, type FhirStore } from '../../../src/modules/fhir/service.js';
import { SYSTEM_CONTEXT, type CallContext } from '../../../src/modules/fhir/store/context.js';
import { fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

const CTX: CallContext = { ...SYSTEM_CONTEXT, requestId: 'bulk-test' };

function withoutMeta(resource: Resource): Omit<Resource, 'meta'> {
  const { meta: _meta, ...rest } = resource;
  return rest;
}

const idsOf = (resources: Resource[]) => resources.map((r) => r.id).sort();

describe('FhirStore bulk operations', () => {
  let h: FhirHarness;
  let store: FhirStore;
  before(async () => {
    h = await fhirHarness();
    store = createFhirStore(h.rt);
  });
  after(() => h.close());

  describe('createMany', () => {
    const batch: Resource[] = [
      patient('Bulkowski', 'Anna', {
        id: 'bulk-p1',
        identifier: [{ system: 'urn:iris:test:mrn', value: 'MRN-7731' }],
        birthDate: '1984-06-15',
      }) as Resource,
      immunization('bulk-p1', '208', '2021-04-01', { id: 'bulk-i1' }) as Resource,
      immunization('bulk-p1', '140', '2022-10-12', { id: 'bulk-i2' }) as Resource,
      {
        resourceType: 'Provenance',
        id: 'bulk-prov1',
        target: [{ reference: 'Immunization/bulk-i1' }],
        recorded: '2021-04-01T10:00:00Z',
        agent: [{ who: { reference: 'Organization/bulk-o1' } }],
      } as Resource,
      { resourceType: 'Organization', id: 'bulk-o1', name: 'Bulk Clinic' } as Resource,
    ];
    const auditBefore = { n: 0 };
    const eventsBefore = { n: 0 };

    before(async () => {
      auditBefore.n = h.audit.entries.length;
      eventsBefore.n = h.events.events.length;
      const results = await h.db.transaction((tx) => store.createMany(CTX, tx, batch));
      assert.equal(results.length, batch.length);
      for (const [i, result] of results.entries()) {
        assert.equal(result.versionId, '1');
        assert.equal(result.created, true);
        assert.equal(result.deleted, false);
        assert.equal(result.resource.id, batch[i]?.id);
      }
    });

    test('every resource reads back as given, at version 1', async () => {
      for (const input of batch) {
        const read = await store.read(CTX, input.resourceType, input.id as string);
        assert.equal(read.versionId, '1');
        assert.equal(read.resource.meta?.versionId, '1');
        assert.deepEqual(withoutMeta(read.resource), input);
      }
    });

    test('the index rows make each resource searchable', async () => {
      assert.deepEqual(
        idsOf(await store.search(CTX, 'Patient', { identifier: 'urn:iris:test:mrn|MRN-7731' })),
        ['bulk-p1'],
      );
      assert.deepEqual(idsOf(await store.search(CTX, 'Patient', { family: 'Bulkowski' })), ['bulk-p1']);
      assert.deepEqual(idsOf(await store.search(CTX, 'Patient', { family: 'Bulko' })), ['bulk-p1']);
      assert.deepEqual(idsOf(await store.search(CTX, 'Patient', { family: 'Nobody' })), []);
      assert.deepEqual(idsOf(await store.search(CTX, 'Patient', { birthdate: '1984-06-15' })), ['bulk-p1']);
      assert.deepEqual(idsOf(await store.search(CTX, 'Immunization', { patient: 'Patient/bulk-p1' })), [
        'bulk-i1',
        'bulk-i2',
      ]);
      assert.deepEqual(idsOf(await store.search(CTX, 'Immunization', { date: '2022-10-12' })), ['bulk-i2']);
      assert.deepEqual(
        idsOf(await store.search(CTX, 'Immunization', { 'vaccine-code': 'http://hl7.org/fhir/sid/cvx|140' })),
        ['bulk-i2'],
      );
      assert.deepEqual(idsOf(await store.search(CTX, 'Provenance', { target: 'Immunization/bulk-i1' })), [
        'bulk-prov1',
      ]);
      assert.deepEqual(idsOf(await store.search(CTX, 'Organization', { name: 'Bulk Clinic' })), ['bulk-o1']);
    });

    test("the Immunizations are in the Patient's compartment", async () => {
      const scoped: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['bulk-p1'] } };
      assert.deepEqual(idsOf(await store.search(scoped, 'Immunization', {})), ['bulk-i1', 'bulk-i2']);
      const other: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['someone-else'] } };
      assert.deepEqual(idsOf(await store.search(other, 'Immunization', {})), []);
    });

    test('one fhir.create audit entry per resource, inside the transaction', () => {
      const entries = h.audit.entries.slice(auditBefore.n).filter((e) => e.action === 'fhir.create');
      assert.equal(entries.length, batch.length);
      const byId = new Map(entries.map((e) => [`${e.resource?.type}/${e.resource?.id}`, e]));
      const expectedPatients: Record<string, string[]> = {
        'Patient/bulk-p1': ['bulk-p1'],
        'Immunization/bulk-i1': ['bulk-p1'],
        'Immunization/bulk-i2': ['bulk-p1'],
        'Organization/bulk-o1': [],
      };
      for (const input of batch) {
        const entry = byId.get(`${input.resourceType}/${input.id}`);
        assert.ok(entry, `audit entry for ${input.resourceType}/${input.id}`);
        assert.equal(entry.outcome, 'success');
        assert.equal(entry.resource?.versionId, '1');
        assert.equal(entry.inTransaction, true);
        assert.deepEqual(entry.actor, CTX.actor);
        assert.equal(entry.requestId, 'bulk-test');
        const expected = expectedPatients[`${input.resourceType}/${input.id}`];
        if (expected) assert.deepEqual([...(entry.patientIds ?? [])].sort(), expected);
      }
    });

    test('one event per resource, typed as a single create would be', () => {
      const events = h.events.events.slice(eventsBefore.n);
      assert.equal(events.length, batch.length);
      const types = new Map(events.map((e) => [`${e.aggregate.type}/${e.aggregate.id}`, e]));
      const expected: Record<string, string> = {
        'Patient/bulk-p1': 'patient.created',
        'Immunization/bulk-i1': 'immunization.recorded',
        'Immunization/bulk-i2': 'immunization.recorded',
        'Provenance/bulk-prov1': 'provenance.created',
        'Organization/bulk-o1': 'organization.created',
      };
      for (const [key, type] of Object.entries(expected)) {
        const event = types.get(key);
        assert.ok(event, `event for ${key}`);
        assert.equal(event.type, type);
        assert.equal(event.correlationId, 'bulk-test');
        assert.equal((event.payload as { versionId: string }).versionId, '1');
      }
      const recorded = types.get('Immunization/bulk-i1');
      assert.deepEqual((recorded?.payload as { patientIds: string[] }).patientIds, ['bulk-p1']);
    });

    test('the single-write path and the bulk path agree on index rows', async () => {
      const single = await h.db.transaction((tx) =>
        store.create(
          CTX,
          tx,
          patient('Bulkowski', 'Bert', {
            identifier: [{ system: 'urn:iris:test:mrn', value: 'MRN-7732' }],
            birthDate: '1984-06-15',
          }) as Resource,
        ),
      );
      const found = idsOf(
        await store.search(CTX, 'Patient', { family: 'Bulkowski', birthdate: '1984-06-15' }),
      );
      assert.deepEqual(found, [single.resource.id, 'bulk-p1'].sort());
    });
  });

  test('a rolled-back transaction leaves nothing readable or searchable', async () => {
    const auditBefore = h.audit.entries.length;
    await assert.rejects(
      h.db.transaction(async (tx) => {
        await store.createMany(CTX, tx, [
          patient('Rollbackson', 'Rita', { id: 'rb-p1' }) as Resource,
          immunization('rb-p1', '208', '2021-05-05', { id: 'rb-i1' }) as Resource,
        ]);
        throw new Error('abort after the bulk write');
      }),
      /abort after the bulk write/,
    );
    assert.equal((await store.readMany(CTX, 'Patient', ['rb-p1'])).size, 0);
    assert.equal((await store.readMany(CTX, 'Immunization', ['rb-i1'])).size, 0);
    await assert.rejects(store.read(CTX, 'Patient', 'rb-p1'), (e: unknown) => {
      return e instanceof IrisError && e.statusCode === 404;
    });
    assert.deepEqual(await store.search(CTX, 'Patient', { family: 'Rollbackson' }), []);
    assert.deepEqual(await store.search(CTX, 'Immunization', { patient: 'Patient/rb-p1' }), []);
    // The audit trail writes inside the transaction, so its entries roll back with it.
    const written = h.audit.entries.slice(auditBefore).filter((e) => e.action === 'fhir.create');
    assert.equal(written.length, 2);
    assert.ok(written.every((e) => e.inTransaction));
  });

  test('without trusted, one invalid resource rejects the whole batch with a 4xx', async () => {
    const eventsBefore = h.events.events.length;
    const invalid = immunization('inv-p1', '208', '2021-05-05', { id: 'inv-i2' }) as Record<string, unknown>;
    delete invalid.status;
    await assert.rejects(
      h.db.transaction((tx) =>
        store.createMany(CTX, tx, [
          patient('Invalidsen', 'Ida', { id: 'inv-p1' }) as Resource,
          immunization('inv-p1', '208', '2021-05-05', { id: 'inv-i1' }) as Resource,
          invalid as unknown as Resource,
        ]),
      ),
      (e: unknown) => {
        assert.ok(e instanceof IrisError);
        assert.ok(e.statusCode >= 400 && e.statusCode < 500, `status ${e.statusCode}`);
        assert.ok(e.details.length > 0);
        return true;
      },
    );
    await assert.rejects(
      h.db.transaction((tx) =>
        store.createMany(CTX, tx, [
          patient('Invalidsen', 'Ivo', { id: 'inv-p2' }) as Resource,
          immunization('inv-p2', 'not-a-cvx-code', '2021-05-05', { id: 'inv-i3' }) as Resource,
        ]),
      ),
      (e: unknown) => e instanceof IrisError && e.statusCode === 422,
    );
    assert.equal((await store.readMany(CTX, 'Patient', ['inv-p1', 'inv-p2'])).size, 0);
    assert.equal((await store.readMany(CTX, 'Immunization', ['inv-i1', 'inv-i2', 'inv-i3'])).size, 0);
    assert.deepEqual(await store.search(CTX, 'Patient', { family: 'Invalidsen' }), []);
    assert.equal(h.events.events.length, eventsBefore);
  });

  test("a restricted caller may not bulk-write into another patient's compartment", async () => {
    const scoped: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['sc-p1'] } };
    await assert.rejects(
      h.db.transaction((tx) =>
        store.createMany(scoped, tx, [
          immunization('sc-p1', '208', '2021-05-05', { id: 'sc-i1' }) as Resource,
          immunization('sc-p2', '208', '2021-05-05', { id: 'sc-i2' }) as Resource,
        ]),
      ),
      (e: unknown) => e instanceof IrisError && e.statusCode === 403,
    );
    assert.equal((await store.readMany(CTX, 'Immunization', ['sc-i1', 'sc-i2'])).size, 0);
  });

  test('an organization caller may create a patient of its organization with its records in one batch', async () => {
    await h.db.transaction((tx) =>
      store.createMany(CTX, tx, [
        { resourceType: 'Organization', id: 'sc-org', name: 'Scoped Clinic' } as Resource,
      ]),
    );
    const orgCaller: CallContext = {
      ...CTX,
      scope: { kind: 'organizations', organizationIds: ['sc-org'], extraPatientIds: [] },
    };
    await h.db.transaction((tx) =>
      store.createMany(orgCaller, tx, [
        patient('Orgmember', 'Olga', {
          id: 'sc-p3',
          managingOrganization: { reference: 'Organization/sc-org' },
        }) as Resource,
        immunization('sc-p3', '208', '2021-05-05', { id: 'sc-i3' }) as Resource,
      ]),
    );
    assert.deepEqual([...(await store.readMany(orgCaller, 'Immunization', ['sc-i3'])).keys()], ['sc-i3']);
  });

  describe('readMany', () => {
    before(async () => {
      await h.db.transaction((tx) =>
        store.createMany(
          CTX,
          tx,
          [
            patient('Readmany', 'Rosa', { id: 'rm-p1' }),
            patient('Readmany', 'Rudi', { id: 'rm-p2' }),
            immunization('rm-p1', '208', '2021-01-01', { id: 'rm-i1' }),
            immunization('rm-p1', '208', '2021-02-01', { id: 'rm-i2' }),
            immunization('rm-p2', '208', '2021-03-01', { id: 'rm-i3' }),
          ] as Resource[],
          { trusted: true },
        ),
      );
      const gone = await h.db.transaction((tx) => store.delete(CTX, tx, 'Immunization', 'rm-i2'));
      assert.equal(gone?.deleted, true);
    });

    test('returns the live resources keyed by id, without unknown, deleted or repeated ones', async () => {
      const found = await store.readMany(CTX, 'Immunization', ['rm-i1', 'rm-i2', 'nope', 'rm-i3', 'rm-i1']);
      assert.deepEqual([...found.keys()].sort(), ['rm-i1', 'rm-i3']);
      const i1 = found.get('rm-i1');
      assert.equal(i1?.versionId, '1');
      assert.equal(i1?.resource.id, 'rm-i1');
      assert.equal((i1?.resource as { occurrenceDateTime?: string }).occurrenceDateTime, '2021-01-01');
      assert.equal(found.get('rm-i3')?.resource.id, 'rm-i3');
      assert.equal((await store.readMany(CTX, 'Immunization', [])).size, 0);
    });

    test('only looks at the requested type', async () => {
      assert.equal((await store.readMany(CTX, 'Patient', ['rm-i1'])).size, 0);
    });

    test("hides resources in other patients' compartments", async () => {
      const onlyP2: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['rm-p2'] } };
      const found = await store.readMany(onlyP2, 'Immunization', ['rm-i1', 'rm-i3']);
      assert.deepEqual([...found.keys()], ['rm-i3']);
      const patients = await store.readMany(onlyP2, 'Patient', ['rm-p1', 'rm-p2']);
      assert.deepEqual([...patients.keys()], ['rm-p2']);
      const stranger: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['other'] } };
      assert.equal((await store.readMany(stranger, 'Immunization', ['rm-i1', 'rm-i3'])).size, 0);
    });

    test('audits each resource read unless told not to', async () => {
      const before = h.audit.entries.length;
      await store.readMany(CTX, 'Immunization', ['rm-i1', 'rm-i3', 'rm-i2']);
      const reads = h.audit.entries.slice(before);
      assert.deepEqual(reads.map((e) => `${e.action} ${e.resource?.id}`).sort(), [
        'fhir.read rm-i1',
        'fhir.read rm-i3',
      ]);
      const quiet = h.audit.entries.length;
      await store.readMany(CTX, 'Immunization', ['rm-i1'], { audit: false });
      assert.equal(h.audit.entries.length, quiet);
    });
  });

  describe('vreadMany', () => {
    before(async () => {
      await h.db.transaction((tx) =>
        store.createMany(CTX, tx, [
          patient('Vreadmany', 'Vera', { id: 'vr-p1' }) as Resource,
          immunization('vr-p1', '208', '2021-06-01', { id: 'vr-i1' }) as Resource,
        ]),
      );
      const updated = await h.db.transaction((tx) =>
        store.update(CTX, tx, immunization('vr-p1', '208', '2021-06-02', { id: 'vr-i1' }) as Resource),
      );
      assert.equal(updated.versionId, '2');
    });

    test('returns exactly the requested versions, keyed id/version', async () => {
      const found = await store.vreadMany(CTX, 'Immunization', [
        { id: 'vr-i1', versionId: '1' },
        { id: 'vr-i1', versionId: '2' },
        { id: 'vr-i1', versionId: '9' },
        { id: 'vr-i1', versionId: 'x' },
        { id: 'vr-unknown', versionId: '1' },
      ]);
      assert.deepEqual([...found.keys()].sort(), ['vr-i1/1', 'vr-i1/2']);
      const v1 = found.get('vr-i1/1');
      const v2 = found.get('vr-i1/2');
      assert.equal(v1?.versionId, '1');
      assert.equal(v2?.versionId, '2');
      assert.equal(v1?.resource.meta?.versionId, '1');
      assert.equal(v2?.resource.meta?.versionId, '2');
      assert.equal((v1?.resource as { occurrenceDateTime?: string }).occurrenceDateTime, '2021-06-01');
      assert.equal((v2?.resource as { occurrenceDateTime?: string }).occurrenceDateTime, '2021-06-02');
    });

    test('only version 1 when asked for it alone; nothing for invalid versions', async () => {
      const one = await store.vreadMany(CTX, 'Immunization', [{ id: 'vr-i1', versionId: '1' }]);
      assert.deepEqual([...one.keys()], ['vr-i1/1']);
      const none = await store.vreadMany(CTX, 'Immunization', [
        { id: 'vr-i1', versionId: '0' },
        { id: 'vr-i1', versionId: '-1' },
        { id: 'vr-i1', versionId: 'x' },
      ]);
      assert.equal(none.size, 0);
    });

    test("omits a deletion and hides versions outside the caller's scope", async () => {
      await h.db.transaction((tx) => store.delete(CTX, tx, 'Immunization', 'vr-i1'));
      const found = await store.vreadMany(CTX, 'Immunization', [
        { id: 'vr-i1', versionId: '2' },
        { id: 'vr-i1', versionId: '3' },
      ]);
      assert.deepEqual([...found.keys()], ['vr-i1/2']);
      const stranger: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['other'] } };
      const patientV1 = await store.vreadMany(stranger, 'Patient', [{ id: 'vr-p1', versionId: '1' }]);
      assert.equal(patientV1.size, 0);
      const own: CallContext = { ...CTX, scope: { kind: 'patients', patientIds: ['vr-p1'] } };
      const ownV1 = await store.vreadMany(own, 'Patient', [{ id: 'vr-p1', versionId: '1' }]);
      assert.deepEqual([...ownV1.keys()], ['vr-p1/1']);
    });
  });
});
