import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { testApp, type TestApp } from '../../helpers/app.js';

describe('HTTP app', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({ BODY_LIMIT: '64kb', CORS_ORIGINS: 'https://clinic.example' }, (app) => {
      app.post('/api/v1/echo-probe', async (request) => request.body);
      app.post('/fhir/Probe', async (request) => request.body);
    });
  });
  after(() => t.close());

  test('an unknown platform route answers problem+json 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here?x=1' });
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
    const body = res.json();
    assert.equal(body.status, 404);
    assert.equal(body.title, 'Not found');
    assert.equal(body.instance, '/api/v1/nothing-here');
    assert.equal(body.code, 'IRIS_ROUTE_NOT_FOUND');
    assert.equal(body.requestId, res.headers['x-request-id']);
    assert.match(body.type, /^urn:iris:problem:route-not-found$/);
  });

  test('an unknown FHIR path answers an OperationOutcome 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/fhir/Patient/1/_history/2/no/such/path' });
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /^application\/fhir\+json/);
    const body = res.json();
    assert.equal(body.resourceType, 'OperationOutcome');
    assert.equal(body.issue[0].severity, 'error');
    assert.equal(body.issue[0].code, 'not-found');
  });

  test('an oversized body answers 413 in the shape of each API', async () => {
    const big = JSON.stringify({ resourceType: 'Patient', text: 'x'.repeat(70 * 1024) });
    const fhir = await t.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      payload: big,
    });
    assert.equal(fhir.statusCode, 413);
    assert.equal(fhir.json().resourceType, 'OperationOutcome');
    assert.equal(fhir.json().issue[0].code, 'too-costly');
    const api = await t.app.inject({
      method: 'POST',
      url: '/api/v1/anything',
      headers: { 'content-type': 'application/json' },
      payload: big,
    });
    assert.equal(api.statusCode, 413);
    assert.match(api.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(api.json().code, 'IRIS_PAYLOAD_TOO_LARGE');
  });

  test('security headers are present on every answer', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['strict-transport-security'] as string, /max-age=31536000; includeSubDomains/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(res.headers['content-security-policy'] as string, /default-src 'self'/);
    assert.match(res.headers['content-security-policy'] as string, /frame-ancestors 'none'/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
  });

  test('a well-formed X-Request-Id is kept, anything else replaced', async () => {
    const kept = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'abc-123.DEF' },
    });
    assert.equal(kept.headers['x-request-id'], 'abc-123.DEF');
    const replaced = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'bad id\u0000<script>' },
    });
    assert.match(replaced.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });

  test('CORS answers only allow-listed origins', async () => {
    const allowed = await t.app.inject({
      method: 'OPTIONS',
      url: '/health/live',
      headers: { origin: 'https://clinic.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://clinic.example');
    const denied = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(denied.headers['access-control-allow-origin'], undefined);
  });

  test('malformed JSON is a 400 in the right shape, never a 500', async () => {
    const fhir = await t.app.inject({
      method: 'POST',
      url: '/fhir/Probe',
      headers: { 'content-type': 'application/fhir+json' },
      payload: '{"resourceType": ',
    });
    assert.equal(fhir.statusCode, 400);
    assert.equal(fhir.json().resourceType, 'OperationOutcome');
    assert.equal(fhir.json().issue[0].code, 'structure');
    const api = await t.app.inject({
      method: 'POST',
      url: '/api/v1/echo-probe',
      headers: { 'content-type': 'application/json' },
      payload: '{not json',
    });
    assert.equal(api.statusCode, 400);
    assert.equal(api.json().code, 'IRIS_MALFORMED_BODY');
    const media = await t.app.inject({
      method: 'POST',
      url: '/api/v1/echo-probe',
      headers: { 'content-type': 'application/x-unknown' },
      payload: 'abc',
    });
    assert.equal(media.statusCode, 415);
    assert.equal(media.json().code, 'IRIS_UNSUPPORTED_MEDIA_TYPE');
    const ok = await t.app.inject({
      method: 'POST',
      url: '/fhir/Probe',
      headers: { 'content-type': 'application/fhir+json' },
      payload: '{"resourceType":"Basic"}',
    });
    assert.deepEqual(ok.json(), { resourceType: 'Basic' });
  });

  test('readiness lists each check and its status', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.status, 'ok');
    for (const name of ['database', 'storage', 'disk', 'events'])
      assert.equal(body.checks[name].status, 'up', name);
    assert.equal(typeof body.checks.database.durationMs, 'number');
    if (process.env.REDIS_URL) assert.equal(body.checks.redis.status, 'up');
    else assert.equal(body.checks.redis, undefined);
  });

  test('metrics expose request durations by route, pool and event-loop figures', async () => {
    await t.app.inject({ method: 'GET', url: '/health/live' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    assert.match(
      res.body,
      /iris_http_request_duration_seconds_bucket\{.*route="\/health\/live".*status_code="200"/,
    );
    assert.match(res.body, /iris_db_pool_connections \d+/);
    assert.match(res.body, /nodejs_eventloop_lag_seconds/);
    assert.match(res.body, /process_resident_memory_bytes/);
  });

  test('/openapi.json is a valid OpenAPI 3 document and /docs serves the UI', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/health/ready']);
    await SwaggerParser.validate(structuredClone(doc));
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger-ui/i);
    const script = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(script.statusCode, 200);
  });

  test('access logs carry the route pattern and a redacted query, never PHI or credentials', async () => {
    await t.app.inject({
      method: 'GET',
      url: '/fhir/Patient?family=Doe&given=Jane&_count=5',
      headers: { authorization: 'Bearer secret-token-value', cookie: 'sid=abc' },
    });
    const text = JSON.stringify(t.logs);
    assert.doesNotMatch(text, /Doe|Jane|secret-token-value|sid=abc/);
    const line = t.logs.find(
      (l) => l.msg === 'request completed' && typeof l.query === 'string' && l.query.includes('family'),
    );
    assert.ok(line, 'an access log line for the search');
    assert.equal(line.query, 'family=[REDACTED]&given=[REDACTED]&_count=5');
    // The made-up bearer token is refused before the search runs.
    assert.equal(line.status, 401);
    assert.equal(typeof line.durationMs, 'number');
    assert.ok(line.reqId);
  });
});

describe('HTTP rate limiting', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' });
  });
  after(() => t.close());

  test('past the limit, 429 in the API shape with Retry-After; health probes are exempt', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push(
        (await t.app.inject({ method: 'GET', url: '/api/v1/limited', remoteAddress: '10.9.9.9' })).statusCode,
      );
    }
    assert.deepEqual(statuses, [404, 404, 404, 429]);
    const limited = await t.app.inject({ method: 'GET', url: '/api/v1/limited', remoteAddress: '10.9.9.9' });
    assert.equal(limited.statusCode, 429);
    assert.match(limited.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(limited.json().code, 'IRIS_TOO_MANY_REQUESTS');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    const fhir = await t.app.inject({ method: 'GET', url: '/fhir/Patient', remoteAddress: '10.9.9.9' });
    assert.equal(fhir.statusCode, 429);
    assert.equal(fhir.json().resourceType, 'OperationOutcome');
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await t.app.inject({ method: 'GET', url: '/health/live', remoteAddress: '10.9.9.9' })).statusCode,
        200,
      );
    }
  });
});
