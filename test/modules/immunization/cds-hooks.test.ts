import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { testApp, type TestApp } from '../../helpers/app.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const patient = { resourceType: 'Patient', id: 'p7', gender: 'male', birthDate: '2023-02-01' };
const immunizations = [
  {
    resourceType: 'Immunization',
    id: 'i1',
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: '20' }] },
    patient: { reference: 'Patient/p7' },
    occurrenceDateTime: '2023-02-10',
  },
  {
    resourceType: 'Immunization',
    id: 'i2',
    status: 'completed',
    vaccineCode: { text: 'unknown' },
    patient: { reference: 'Patient/p7' },
    occurrenceDateTime: '2023-04-01',
  },
];
const searchset = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: immunizations.map((resource) => ({ resource })),
};

describe('CDS Hooks', () => {
  let t: TestApp;
  let fhir: Server;
  let fhirUrl: string;
  const seenAuth: string[] = [];

  before(async () => {
    // A real HTTP FHIR endpoint on loopback standing in for the EHR's server.
    fhir = createServer((req, res) => {
      seenAuth.push(req.headers.authorization ?? '');
      res.setHeader('content-type', 'application/fhir+json');
      if (req.url === '/fhir/Patient/p7') return res.end(JSON.stringify(patient));
      if (req.url?.startsWith('/fhir/Immunization?patient=p7')) return res.end(JSON.stringify(searchset));
      if (req.url?.startsWith('/fhir/Condition?patient=p7')) {
        return res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] }));
      }
      res.statusCode = 404;
      res.end('{}');
    });
    fhir.listen(0, '127.0.0.1');
    await once(fhir, 'listening');
    const address = fhir.address();
    fhirUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/fhir`;
    t = await testApp({ CDS_HOOKS_FHIR_SERVERS: fhirUrl });
  });
  after(async () => {
    await t.close();
    fhir.close();
  });

  const call = (body: unknown) =>
    t.app.inject({ method: 'POST', url: '/cds-services/immunization-forecast', payload: body as object });

  test('discovery lists the patient-view service with its prefetch templates', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/cds-services' });
    assert.equal(res.statusCode, 200);
    const [service] = res.json().services;
    assert.equal(service.hook, 'patient-view');
    assert.equal(service.id, 'immunization-forecast');
    assert.equal(service.prefetch.patient, 'Patient/{{context.patientId}}');
    assert.equal(service.prefetch.immunizations, 'Immunization?patient={{context.patientId}}');
  });

  test('prefetched data gives overdue cards with an order suggestion, and flags unusable records', async () => {
    const res = await call({
      hook: 'patient-view',
      hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
      context: { userId: 'Practitioner/1', patientId: 'p7' },
      prefetch: { patient, immunizations: searchset },
    });
    assert.equal(res.statusCode, 200, res.body);
    const { cards } = res.json();
    assert.ok(cards.length > 0);
    for (const card of cards) {
      assert.ok(card.summary.length < 140);
      assert.ok(['info', 'warning', 'critical'].includes(card.indicator));
      assert.match(card.source.label, /CDSi/);
      assert.match(card.uuid, /^[0-9a-f-]{36}$/);
    }
    const mmr = cards.find((c: { summary: string }) => /^MMR dose 1 is overdue/.test(c.summary));
    assert.ok(mmr, JSON.stringify(cards.map((c: { summary: string }) => c.summary)));
    assert.equal(mmr.indicator, 'warning');
    assert.equal(mmr.selectionBehavior, 'at-most-one');
    const action = mmr.suggestions[0].actions[0];
    assert.equal(action.type, 'create');
    assert.equal(action.resource.resourceType, 'ServiceRequest');
    assert.equal(action.resource.subject.reference, 'Patient/p7');
    assert.ok(action.resource.code.coding.every((c: { system: string }) => c.system === CVX));
    // The DTaP given at 9 days of age does not count.
    assert.ok(
      cards.some(
        (c: { summary: string }) => c.summary === 'DTaP/Tdap/Td: the dose of 2023-02-10 does not count',
      ),
    );
    assert.ok(
      cards.some((c: { summary: string }) => c.summary === '1 immunization record(s) could not be evaluated'),
    );
  });

  test('without prefetch, data comes from an allow-listed FHIR server with the given token', async () => {
    const res = await call({
      hook: 'patient-view',
      hookInstance: 'a',
      fhirServer: fhirUrl,
      fhirAuthorization: { access_token: 'ehr-token', token_type: 'Bearer' },
      context: { patientId: 'p7' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(res.json().cards.length > 0);
    assert.ok(seenAuth.includes('Bearer ehr-token'));
  });

  test('a FHIR server that is not allow-listed is never contacted: 412', async () => {
    const before = seenAuth.length;
    const res = await call({
      hook: 'patient-view',
      hookInstance: 'b',
      fhirServer: 'http://127.0.0.1:1/fhir',
      context: { patientId: 'p7' },
    });
    assert.equal(res.statusCode, 412);
    assert.match(res.headers['content-type'] as string, /problem\+json/);
    assert.equal(seenAuth.length, before);
  });

  test('unknown services and malformed calls are client errors', async () => {
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/cds-services/nope',
      payload: { hook: 'patient-view', hookInstance: 'x', context: { patientId: 'p' } },
    });
    assert.equal(unknown.statusCode, 404);
    const wrongHook = await call({ hook: 'order-select', hookInstance: 'x', context: { patientId: 'p7' } });
    assert.equal(wrongHook.statusCode, 400);
    const noContext = await call({ hook: 'patient-view', hookInstance: 'x' });
    assert.equal(noContext.statusCode, 400);
    assert.equal(noContext.json().code, 'IRIS_VALIDATION');
  });
});
