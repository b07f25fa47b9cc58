import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Bundle } from 'fhir/r4.js';
import { TransportError } from '../../../../src/modules/registry/transport/errors.js';
import { createTransport } from '../../../../src/modules/registry/transport/index.js';
import type { FhirTransport } from '../../../../src/modules/registry/transport/index.js';
import type { RegistryEndpointConfig } from '../../../../src/modules/registry/transport/types.js';

const CLIENT_SECRET = 'client-$ecret-value-9';
const HMAC_SECRET = 'hmac-$ecret-value-7';
const PATIENT_ID = 'MRN-PHI-777';

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}
interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  delayMs?: number;
}

let server: http.Server;
let base: string;
let seen: Seen[];
let tokenRequests: Seen[];
/** Answers for the FHIR routes, in order; the last one repeats. */
let replies: Reply[];
let tokenReplies: Reply[];
/** open: no auth check; tokens: only issued, unrevoked bearer tokens; reject: always 401. */
let authMode: 'open' | 'tokens' | 'reject';
let validTokens: Set<string>;

const bundle: Bundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      resource: { resourceType: 'Basic', code: { text: PATIENT_ID } },
      request: { method: 'POST', url: 'Basic' },
    },
  ],
};
const outcome = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'invalid', diagnostics: 'vaccine code unknown' }],
};

function next(queue: Reply[]): Reply {
  return queue.length > 1 ? queue.shift()! : queue[0]!;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const body =
    reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  const write = () =>
    res.writeHead(reply.status, { 'Content-Type': 'application/fhir+json', ...reply.headers }).end(body);
  if (reply.delayMs) setTimeout(write, reply.delayMs);
  else write();
}

function config(overrides: Partial<RegistryEndpointConfig> = {}): RegistryEndpointConfig {
  return {
    id: 'ep-fhir',
    name: 'State IIS FHIR',
    transport: 'fhir',
    url: `${base}/fhir/`,
    credentials: { kind: 'none' },
    timeoutMs: 2000,
    rateLimitPerSecond: 0,
    maxConcurrent: 4,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 2000 },
    breaker: { consecutiveFailures: 10, halfOpenAfterMs: 1000 },
    ...overrides,
  };
}

function fhirTransport(overrides: Partial<RegistryEndpointConfig> = {}): FhirTransport {
  const transport = createTransport(config(overrides));
  assert.equal(transport.kind, 'fhir');
  return transport as FhirTransport;
}

const oauth2 = (scope?: string): RegistryEndpointConfig['credentials'] => ({
  kind: 'oauth2',
  tokenUrl: `${base}/token`,
  clientId: 'iris client',
  clientSecret: CLIENT_SECRET,
  ...(scope ? { scope } : {}),
});

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TransportError, `expected a TransportError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

function assertSafe(error: TransportError): void {
  for (const secret of [CLIENT_SECRET, HMAC_SECRET, PATIENT_ID]) {
    assert.ok(!error.message.includes(secret), `error message leaks ${secret}: ${error.message}`);
  }
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Seen = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      if (request.path === '/token') {
        tokenRequests.push(request);
        const reply = next(tokenReplies);
        if (reply.status === 200) {
          const token = `token-${tokenRequests.length}`;
          validTokens.add(token);
          send(res, {
            ...reply,
            body: { access_token: token, token_type: 'Bearer', ...(reply.body as object) },
          });
        } else send(res, reply);
        return;
      }
      seen.push(request);
      const bearer = req.headers.authorization?.replace(/^Bearer /, '');
      if (authMode === 'reject' || (authMode === 'tokens' && (!bearer || !validTokens.has(bearer)))) {
        send(res, { status: 401, body: { resourceType: 'OperationOutcome', issue: [] } });
        return;
      }
      send(res, next(replies));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
  tokenRequests = [];
  validTokens = new Set();
  authMode = 'open';
  replies = [{ status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: [] } }];
  tokenReplies = [{ status: 200, body: { expires_in: 3600 } }];
});

describe('FHIR transport: submission', () => {
  test('POSTs the Bundle to the base URL with the Idempotency-Key and returns the response', async () => {
    const transport = fhirTransport();
    try {
      const answer = await transport.submitBundle(bundle, 'ctrl-0001');
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { resourceType: 'Bundle', type: 'transaction-response', entry: [] });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'POST');
      assert.equal(seen[0]!.path, '/fhir');
      assert.equal(seen[0]!.headers['idempotency-key'], 'ctrl-0001');
      assert.equal(seen[0]!.headers['content-type'], 'application/fhir+json');
      assert.deepEqual(JSON.parse(seen[0]!.body), bundle);
    } finally {
      await transport.close();
    }
  });

  for (const status of [400, 422]) {
    test(`a ${status} OperationOutcome is returned, not retried`, async () => {
      replies = [{ status, body: outcome }];
      const transport = fhirTransport();
      try {
        const answer = await transport.submitBundle(bundle, 'ctrl-0002');
        assert.equal(answer.status, status);
        assert.deepEqual(answer.body, outcome);
        assert.equal(seen.length, 1);
        assert.equal(transport.policy.state, 'closed');
      } finally {
        await transport.close();
      }
    });
  }

  test('a 400 without an OperationOutcome is a permanent http error', async () => {
    replies = [{ status: 400, body: 'bad request' }];
    const transport = fhirTransport();
    try {
      const error = await rejection(transport.submitBundle(bundle, 'ctrl-0003'));
      assert.equal(error.kind, 'http');
      assert.equal(error.status, 400);
      assert.equal(error.transient, false);
      assert.equal(seen.length, 1);
    } finally {
      await transport.close();
    }
  });

  test('a redirect is not followed', async () => {
    replies = [{ status: 307, headers: { Location: `${base}/elsewhere` } }];
    const transport = fhirTransport({ credentials: { kind: 'hmac', secret: HMAC_SECRET } });
    try {
      const error = await rejection(transport.submitBundle(bundle, 'ctrl-0007'));
      assert.equal(error.status, 307);
      assert.equal(error.transient, false);
      assert.deepEqual(
        seen.map((s) => s.path),
        ['/fhir'],
      );
    } finally {
      await transport.close();
    }
  });

  test('retries a 503 and then succeeds with the same Idempotency-Key', async () => {
    replies = [
      { status: 503 },
      { status: 201, body: { resourceType: 'Bundle', type: 'transaction-response' } },
    ];
    const transport = fhirTransport();
    try {
      const answer = await transport.submitBundle(bundle, 'ctrl-0004');
      assert.equal(answer.status, 201);
      assert.equal(seen.length, 2);
      assert.deepEqual(
        seen.map((s) => s.headers['idempotency-key']),
        ['ctrl-0004', 'ctrl-0004'],
      );
    } finally {
      await transport.close();
    }
  });

  test('a 429 is retried after its Retry-After delay', async () => {
    replies = [
      { status: 429, headers: { 'Retry-After': '1' } },
      { status: 200, body: {} },
    ];
    const transport = fhirTransport();
    try {
      await transport.submitBundle(bundle, 'ctrl-0005');
      assert.equal(seen.length, 2);
      const gap = seen[1]!.at - seen[0]!.at;
      assert.ok(gap >= 950, `retried after ${gap} ms, before Retry-After`);
      assert.ok(gap < 1500, `retried after ${gap} ms`);
    } finally {
      await transport.close();
    }
  });

  test('a slow registry times out', async () => {
    replies = [{ status: 200, body: {}, delayMs: 500 }];
    const transport = fhirTransport({
      timeoutMs: 100,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      const started = Date.now();
      const error = await rejection(transport.submitBundle(bundle, 'ctrl-0006'));
      assert.equal(error.kind, 'timeout');
      assert.equal(error.transient, true);
      assert.ok(Date.now() - started < 450);
    } finally {
      await transport.close();
    }
  });
});

describe('FHIR transport: queries', () => {
  test('searches by patient identifier and follows next links into one Bundle', async () => {
    replies = [
      {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          total: 2,
          link: [{ relation: 'next', url: `${base}/fhir/Immunization?page=2` }],
          entry: [{ resource: { resourceType: 'Immunization', id: 'a' } }],
        },
      },
      {
        status: 200,
        body: {
          resourceType: 'Bundle',
          type: 'searchset',
          entry: [{ resource: { resourceType: 'Immunization', id: 'b' } }],
        },
      },
    ];
    const transport = fhirTransport();
    try {
      const result = await transport.searchImmunizations({ system: 'urn:iris:patient', value: 'p|1' });
      assert.deepEqual(
        result.entry?.map((e) => e.resource?.id),
        ['a', 'b'],
      );
      assert.equal(result.total, 2);
      const first = new URL(seen[0]!.path, base);
      assert.equal(first.pathname, '/fhir/Immunization');
      assert.equal(first.searchParams.get('patient.identifier'), 'urn:iris:patient|p\\|1');
      assert.equal(seen[1]!.path, '/fhir/Immunization?page=2');
    } finally {
      await transport.close();
    }
  });

  test('connectivityTest reads the CapabilityStatement at /metadata', async () => {
    replies = [
      {
        status: 200,
        body: {
          resourceType: 'CapabilityStatement',
          fhirVersion: '4.0.1',
          software: { name: 'SimIIS', version: '1' },
        },
      },
    ];
    const transport = fhirTransport();
    try {
      const check = await transport.connectivityTest();
      assert.deepEqual({ ok: check.ok, detail: check.detail }, { ok: true, detail: 'FHIR 4.0.1 SimIIS 1' });
      assert.equal(seen[0]!.path, '/fhir/metadata');
      replies = [{ status: 200, body: { resourceType: 'Patient' } }];
      const wrong = await transport.connectivityTest();
      assert.equal(wrong.ok, false);
    } finally {
      await transport.close();
    }
  });
});

describe('FHIR transport: authentication', () => {
  test('OAuth2: one token for many calls, with client credentials over HTTP Basic', async () => {
    authMode = 'tokens';
    const transport = fhirTransport({ credentials: oauth2('system/Immunization.write') });
    try {
      await Promise.all([1, 2, 3].map((n) => transport.submitBundle(bundle, `ctrl-1${n}`)));
      await transport.submitBundle(bundle, 'ctrl-14');
      assert.equal(tokenRequests.length, 1);
      const tokenRequest = tokenRequests[0]!;
      const basic = Buffer.from(
        tokenRequest.headers.authorization!.replace(/^Basic /, ''),
        'base64',
      ).toString();
      assert.equal(basic, `iris%20client:${encodeURIComponent(CLIENT_SECRET)}`);
      const form = new URLSearchParams(tokenRequest.body);
      assert.equal(form.get('grant_type'), 'client_credentials');
      assert.equal(form.get('scope'), 'system/Immunization.write');
      assert.equal(seen.length, 4);
      assert.ok(seen.every((s) => s.headers.authorization === 'Bearer token-1'));
    } finally {
      await transport.close();
    }
  });

  test('OAuth2: a token is refreshed once on 401 and when it is within 30 s of expiry', async () => {
    authMode = 'tokens';
    const transport = fhirTransport({ credentials: oauth2() });
    try {
      await transport.submitBundle(bundle, 'ctrl-21');
      validTokens.delete('token-1'); // revoked by the registry
      await transport.submitBundle(bundle, 'ctrl-22');
      assert.equal(tokenRequests.length, 2);
      assert.equal(new URLSearchParams(tokenRequests[1]!.body).get('scope'), null);
      assert.deepEqual(
        seen.map((s) => s.headers.authorization),
        ['Bearer token-1', 'Bearer token-1', 'Bearer token-2'],
      );

      tokenReplies = [{ status: 200, body: { expires_in: 30 } }];
      validTokens.delete('token-2');
      await transport.submitBundle(bundle, 'ctrl-23'); // 401 → token-3, which expires within the margin
      await transport.submitBundle(bundle, 'ctrl-24'); // so a new token before this call
      assert.equal(tokenRequests.length, 4);
    } finally {
      await transport.close();
    }
  });

  test('OAuth2: a 401 that persists after refresh and a rejected client are permanent, without secrets', async () => {
    const transport = fhirTransport({ credentials: oauth2() });
    try {
      await transport.submitBundle(bundle, 'ctrl-31');
      // From now on the registry refuses every token the token endpoint issues.
      authMode = 'reject';
      const issuedBefore = tokenRequests.length;
      const refused = await rejection(transport.submitBundle(bundle, 'ctrl-32'));
      assert.equal(refused.status, 401);
      assert.equal(refused.transient, false);
      assert.equal(tokenRequests.length - issuedBefore, 1, 'exactly one refresh per request');
      assertSafe(refused);

      const rejectedClient = fhirTransport({ credentials: oauth2() });
      tokenReplies = [{ status: 401, body: { error: 'invalid_client' } }];
      const error = await rejection(rejectedClient.submitBundle(bundle, 'ctrl-33'));
      assert.equal(error.status, 401);
      assert.equal(error.transient, false);
      assertSafe(error);
      await rejectedClient.close();
    } finally {
      await transport.close();
    }
  });

  test('HMAC: the registry can verify the signature of POST and GET requests', async () => {
    const transport = fhirTransport({ credentials: { kind: 'hmac', secret: HMAC_SECRET } });
    try {
      await transport.submitBundle(bundle, 'ctrl-41');
      replies = [{ status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [] } }];
      await transport.searchImmunizations({ value: PATIENT_ID });
      assert.equal(seen.length, 2);
      for (const request of seen) {
        const timestamp = String(request.headers['x-signature-timestamp']);
        assert.ok(
          Math.abs(Number(timestamp) - Date.now() / 1000) < 5,
          'timestamp is not current unix seconds',
        );
        const expected = createHmac('sha256', HMAC_SECRET)
          .update(`${timestamp}.${request.method}.${request.path}.${request.body}`)
          .digest('hex');
        const signature = String(request.headers['x-signature']);
        assert.ok(signature.startsWith('sha256='));
        assert.ok(
          timingSafeEqual(Buffer.from(signature.slice(7)), Buffer.from(expected)),
          'signature mismatch',
        );
      }
      assert.ok(seen[1]!.path.includes('?patient.identifier='), 'the signed path includes the query');
    } finally {
      await transport.close();
    }
  });

  test('errors never carry credentials or identifiers', async () => {
    const hmac = fhirTransport({
      credentials: { kind: 'hmac', secret: HMAC_SECRET },
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const refused = fhirTransport({ url: 'http://127.0.0.1:1/fhir', credentials: oauth2() });
    try {
      replies = [{ status: 500, body: `boom ${HMAC_SECRET}` }];
      assertSafe(await rejection(hmac.searchImmunizations({ system: 'urn:x', value: PATIENT_ID })));
      replies = [{ status: 404, body: outcome }];
      assertSafe(await rejection(hmac.submitBundle(bundle, 'ctrl-51')));
      const network = await rejection(refused.submitBundle(bundle, 'ctrl-52'));
      assert.equal(network.kind, 'network');
      assertSafe(network);
    } finally {
      await hmac.close();
      await refused.close();
    }
  });
});
