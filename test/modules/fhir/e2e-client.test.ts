import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, type FhirResource } from 'fhir-kit-client';
import { freePort } from '../../helpers/process.js';
import { fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

type Any = Record<string, unknown> & {
  id?: string;
  entry?: Array<{ resource: Any; response?: { status: string } }>;
};

describe('end to end through fhir-kit-client over HTTP', () => {
  let h: FhirHarness;
  let client: Client;
  before(async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}/fhir`;
    h = await fhirHarness({ baseUrl });
    await h.app.listen({ host: '127.0.0.1', port });
    client = new Client({ baseUrl });
  });
  after(() => h.close());

  test('capability statement, create, read, search, update, patch, history, delete', async () => {
    const cs = (await client.capabilityStatement()) as Any;
    assert.equal(cs.fhirVersion, '4.0.1');
    const created = (await client.create({
      resourceType: 'Patient',
      body: patient('Kit', 'Client') as FhirResource,
    })) as Any;
    assert.ok(created.id);
    const read = (await client.read({ resourceType: 'Patient', id: created.id as string })) as Any;
    assert.deepEqual(read.name, [{ family: 'Kit', given: ['Client'] }]);
    const found = (await client.search({ resourceType: 'Patient', searchParams: { family: 'kit' } })) as Any;
    assert.equal(found.entry?.length, 1);
    const updated = (await client.update({
      resourceType: 'Patient',
      id: created.id as string,
      body: { ...read, gender: 'female' } as unknown as FhirResource,
    })) as Any;
    assert.equal((updated.meta as { versionId: string }).versionId, '2');
    const patched = (await client.patch({
      resourceType: 'Patient',
      id: created.id as string,
      jsonPatch: [{ op: 'replace', path: '/gender', value: 'male' }],
    })) as Any;
    assert.equal(patched.gender, 'male');
    const history = (await client.history({ resourceType: 'Patient', id: created.id as string })) as Any;
    assert.equal(history.entry?.length, 3);
    await client.delete({ resourceType: 'Patient', id: created.id as string });
    await assert.rejects(
      client.read({ resourceType: 'Patient', id: created.id as string }),
      (e: { response?: { status: number } }) => e.response?.status === 410,
    );
  });

  test('a transaction and paging through nextPage', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:9a0f7e0e-2f7a-4f6e-9a57-5d2a3c1b0e01',
          request: { method: 'POST', url: 'Patient' },
          resource: patient('Paged', 'P'),
        },
        ...['08', '20', '10'].map((cvx) => ({
          request: { method: 'POST', url: 'Immunization' },
          resource: {
            ...immunization('x', cvx),
            patient: { reference: 'urn:uuid:9a0f7e0e-2f7a-4f6e-9a57-5d2a3c1b0e01' },
          },
        })),
      ],
    };
    const response = (await client.transaction({ body: bundle as FhirResource })) as Any;
    assert.ok(response.entry?.every((e) => e.response?.status === '201 Created'));
    const first = (await client.search({ resourceType: 'Immunization', searchParams: { _count: 2 } })) as Any;
    assert.equal(first.entry?.length, 2);
    const second = (await client.nextPage({
      bundle: first as unknown as Parameters<Client['nextPage']>[0]['bundle'],
    })) as Any;
    assert.equal(second.entry?.length, 1);
  });
});
