import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const MRN = 'urn:oid:2.16.840.1.113883.3.0.1';

function immunization(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Immunization',
    identifier: [{ system: 'urn:iris:imm', value: 'imm-1' }],
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: '115' }] },
    patient: { reference: 'urn:uuid:patient-1' },
    occurrenceDateTime: '2024-03-01T10:00:00Z',
    primarySource: true,
    lotNumber: 'L-42',
    ...extra,
  };
}

function bundle(
  type: 'transaction' | 'batch',
  immunizations: Record<string, unknown>[],
): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type,
    entry: [
      {
        fullUrl: 'urn:uuid:patient-1',
        resource: {
          resourceType: 'Patient',
          identifier: [{ system: MRN, value: 'P-1' }],
          name: [{ family: 'Rivera', given: ['Luz'] }],
          birthDate: '2019-05-04',
          gender: 'female',
        },
        request: { method: 'POST', url: 'Patient' },
      },
      ...immunizations.map((resource) => ({ resource, request: { method: 'POST', url: 'Immunization' } })),
    ],
  };
}

async function token(sim: RegistrySim, id = 'client-a', secret = 'secret-a'): Promise<Response> {
  return fetch(sim.tokenUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
}

describe('registry simulator: FHIR endpoint with OAuth', () => {
  let sim: RegistrySim;
  let bearer = '';

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sim.fhirUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${bearer}`, ...headers },
      body: JSON.stringify(body),
    });

  before(async () => {
    sim = await startRegistrySim({ port: 0, oauth: { clientId: 'client-a', clientSecret: 'secret-a' } });
  });
  after(() => sim.close());
  beforeEach(async () => {
    sim.reset();
    const res = await token(sim);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    assert.equal(body.token_type, 'Bearer');
    assert.ok(body.expires_in > 0);
    bearer = body.access_token;
  });

  test('the token endpoint refuses a wrong secret and accepts form-field credentials', async () => {
    assert.equal((await token(sim, 'client-a', 'wrong')).status, 401);
    const res = await fetch(sim.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=client-a&client_secret=secret-a',
    });
    assert.equal(res.status, 200);
  });

  test('a transaction Bundle with a token is stored and searchable by patient identifier', async () => {
    const res = await post('', bundle('transaction', [immunization()]));
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      type: string;
      entry: { response: { status: string; location?: string } }[];
    };
    assert.equal(body.type, 'transaction-response');
    assert.deepEqual(
      body.entry.map((e) => e.response.status),
      ['201 Created', '201 Created'],
    );
    assert.match(body.entry[1]!.response.location!, /^Immunization\/[^/]+\/_history\/1$/);
    const [dose] = sim.doses();
    assert.equal(sim.doses().length, 1);
    assert.deepEqual(
      [dose!.patientId, dose!.cvx, dose!.date, dose!.lot, dose!.source],
      ['P-1', '115', '20240301', 'L-42', 'fhir'],
    );
    assert.deepEqual(dose!.patientName, { family: 'Rivera', given: 'Luz' });

    const search = await fetch(
      `${sim.fhirUrl}/Immunization?patient.identifier=${encodeURIComponent(`${MRN}|P-1`)}`,
      {
        headers: { Authorization: `Bearer ${bearer}` },
      },
    );
    assert.equal(search.status, 200);
    const found = (await search.json()) as { type: string; entry: { resource: Record<string, unknown> }[] };
    assert.equal(found.type, 'searchset');
    assert.equal(found.entry.length, 1);
    assert.equal(found.entry[0]!.resource.occurrenceDateTime, '2024-03-01');
    assert.deepEqual(found.entry[0]!.resource.vaccineCode, {
      coding: [{ system: CVX, code: '115', display: 'Tdap' }],
    });
  });

  test('FHIR calls without a valid token answer 401', async () => {
    const none = await fetch(`${sim.fhirUrl}/Immunization?patient.identifier=P-1`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const forged = await post('', bundle('transaction', [immunization()]), {
      Authorization: 'Bearer forged',
    });
    assert.equal(forged.status, 401);
    assert.equal(sim.doses().length, 0);
  });

  test('an invalid Immunization answers 422 with an OperationOutcome and stores nothing', async () => {
    const bad = immunization({ vaccineCode: { coding: [{ system: 'http://snomed.info/sct', code: '1' }] } });
    delete bad.status;
    const res = await post('', bundle('transaction', [bad]));
    assert.equal(res.status, 422);
    const oo = (await res.json()) as {
      resourceType: string;
      issue: { severity: string; code: string; expression: string[] }[];
    };
    assert.equal(oo.resourceType, 'OperationOutcome');
    assert.deepEqual(
      oo.issue.map((i) => [i.severity, i.code, i.expression[0]]),
      [
        ['error', 'required', 'Bundle.entry[1].resource.status'],
        ['error', 'invalid', 'Bundle.entry[1].resource.vaccineCode'],
      ],
    );
    assert.equal(sim.doses().length, 0);

    const direct = immunization({ patient: { identifier: { system: MRN, value: 'P-1' } } });
    delete direct.occurrenceDateTime;
    assert.equal((await post('/Immunization', direct)).status, 422);
    assert.equal(sim.stats().rejected, 2);
  });

  test('a batch stores the valid entries and reports the invalid one', async () => {
    const res = await post(
      '',
      bundle('batch', [
        immunization(),
        immunization({ identifier: [{ value: 'imm-2' }], patient: undefined }),
      ]),
    );
    assert.equal(res.status, 200);
    const body = (await res.json()) as { type: string; entry: { response: { status: string } }[] };
    assert.equal(body.type, 'batch-response');
    assert.deepEqual(
      body.entry.map((e) => e.response.status),
      ['201 Created', '201 Created', '422 Unprocessable Entity'],
    );
    assert.equal(sim.doses().length, 1);
  });

  test('POST /fhir/Immunization answers 201 and a repeated Idempotency-Key is not stored again', async () => {
    const body = immunization({ patient: { identifier: { system: MRN, value: 'P-9' } } });
    const first = await post('/Immunization', body, { 'Idempotency-Key': 'key-1' });
    assert.equal(first.status, 201);
    const created = (await first.json()) as { id: string };
    assert.equal(first.headers.get('location'), `Immunization/${created.id}/_history/1`);
    const again = await post('/Immunization', body, { 'Idempotency-Key': 'key-1' });
    assert.equal(again.status, 201);
    assert.equal(((await again.json()) as { id: string }).id, created.id);
    assert.equal(sim.doses().length, 1);
    assert.equal(sim.stats().duplicateControlIds, 1);
  });

  test('metadata answers a CapabilityStatement', async () => {
    const res = await fetch(`${sim.fhirUrl}/metadata`, { headers: { Authorization: `Bearer ${bearer}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { resourceType: string }).resourceType, 'CapabilityStatement');
  });
});

describe('registry simulator: FHIR endpoint with HMAC signing', () => {
  const SECRET = 'hmac-secret';
  let sim: RegistrySim;

  const sign = (timestamp: number, method: string, path: string, body: string, secret = SECRET) =>
    `sha256=${createHmac('sha256', secret).update(`${timestamp}.${method}.${path}.${body}`).digest('hex')}`;

  const signedPost = (body: string, timestamp: number, signature: string) =>
    fetch(`${sim.fhirUrl}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/fhir+json',
        'X-Signature-Timestamp': String(timestamp),
        'X-Signature': signature,
      },
      body,
    });

  before(async () => {
    sim = await startRegistrySim({ port: 0, hmacSecret: SECRET });
  });
  after(() => sim.close());

  test('a correctly signed request is accepted', async () => {
    const body = JSON.stringify(bundle('transaction', [immunization()]));
    const now = Math.floor(Date.now() / 1000);
    const res = await signedPost(body, now, sign(now, 'POST', '/fhir', body));
    assert.equal(res.status, 200);
    const path = `/fhir/Immunization?patient.identifier=${encodeURIComponent(`${MRN}|P-1`)}`;
    const search = await fetch(`${sim.url}${path}`, {
      headers: { 'X-Signature-Timestamp': String(now), 'X-Signature': sign(now, 'GET', path, '') },
    });
    assert.equal(search.status, 200);
    assert.equal(((await search.json()) as { total: number }).total, 1);
  });

  test('a wrong, stale or missing signature is rejected with 401', async () => {
    const body = JSON.stringify(bundle('transaction', [immunization({ identifier: [{ value: 'other' }] })]));
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await signedPost(body, now, sign(now, 'POST', '/fhir', body, 'wrong'))).status, 401);
    assert.equal((await signedPost(body, now, sign(now, 'POST', '/fhir', `${body} `))).status, 401);
    const stale = now - 301;
    assert.equal((await signedPost(body, stale, sign(stale, 'POST', '/fhir', body))).status, 401);
    assert.equal((await fetch(sim.fhirUrl, { method: 'POST', body })).status, 401);
    assert.equal(sim.doses().length, 1);
  });
});
