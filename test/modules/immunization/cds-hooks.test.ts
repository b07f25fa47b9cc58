import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { TestApp } from '../../helpers/app.js';
import { testCdsClient, type TestCdsClient } from './cds-client.js';
import { bearer, immunizationApp, tokenFor } from './helpers.js';

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
  let ehr: TestCdsClient;
  let token: string;
  let audience: string;
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
    ehr = await testCdsClient();
    t = await immunizationApp({ CDS_HOOKS_FHIR_SERVERS: fhirUrl, CDS_HOOKS_CLIENTS: ehr.env });
    token = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
    audience = `${t.config.http.publicUrl.replace(/\/+$/, '')}/cds-services/immunization-forecast`;
  });
  after(async () => {
    await t.close();
    await ehr.close();
    fhir.close();
  });

  const call = (body: unknown, authorization: Record<string, string> | null = bearer(token)) =>
    t.app.inject({
      method: 'POST',
      url: '/cds-services/immunization-forecast',
      headers: authorization ?? {},
      payload: body as object,
    });
  // Through the whole app: the authentication hook leaves the client's JWT to the route.
  const callWithClientJwt = async (jwt: string) =>
    t.app.inject({
      method: 'POST',
      url: '/cds-services/immunization-forecast',
      headers: bearer(jwt),
      payload: prefetched,
    });
  const prefetched = {
    hook: 'patient-view',
    hookInstance: 'c0ffee00-dfbe-44ad-ba6d-3e05e953b2ea',
    context: { patientId: 'p7' },
    prefetch: { patient, immunizations: searchset },
  };

  test('a CDS client JWT signed by a key of its configured JWKS gets cards', async () => {
    const res = await callWithClientJwt(await ehr.sign(audience));
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(res.json().cards.length > 0);
  });

  test('expired, wrong audience, unknown issuer, bad signature and replayed client JWTs get 401', async () => {
    const past = Math.floor(Date.now() / 1000) - 900;
    const replayed = await ehr.sign(audience);
    assert.equal((await callWithClientJwt(replayed)).statusCode, 200);
    const refused = {
      expired: await ehr.sign(audience, { issuedAt: past, lifetimeSeconds: 120 }),
      wrongAudience: await ehr.sign('https://elsewhere.example/cds-services/immunization-forecast'),
      unknownIssuer: await ehr.sign(audience, { issuer: 'https://stranger.example' }),
      badSignature: await ehr.sign(audience, { key: await ehr.otherKey() }),
      replayed,
    };
    for (const [what, jwt] of Object.entries(refused)) {
      const res = await callWithClientJwt(jwt);
      assert.equal(res.statusCode, 401, `${what}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /json/, what);
      assert.equal(res.json().status, 401, what);
    }
  });

  test('a service call without a token is 401; without immunization:read is 403; discovery is public', async () => {
    assert.equal((await call(prefetched, null)).statusCode, 401);
    assert.equal((await call(prefetched)).statusCode, 200);
    const registrar = await tokenFor(t, ['registrar'], { organizationId: 'org1' });
    assert.equal((await call(prefetched, bearer(registrar))).statusCode, 403);
    assert.equal((await t.app.inject({ method: 'GET', url: '/cds-services' })).statusCode, 200);
  });

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
      headers: bearer(token),
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
