import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { signatureProblem, TokenIssuer } from './auth.js';
import { errorOutcome, FHIR_JSON, FhirEndpoint } from './fhir.js';
import { Registry } from './registry.js';
import { SoapEndpoint, wsdlFor } from './soap.js';
import type { Faults, RegistrySim, SimOptions } from './types.js';

const WSDL_FILE = new URL('../../reference-data/registry/cdc-iis.wsdl', import.meta.url);
const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';
const MAX_FHIR_BODY = 16 * 1024 * 1024;
const MAX_ADMIN_BODY = 64 * 1024;

type Route = 'soap' | 'fhir' | 'token' | 'sim' | 'other';

interface Body {
  text: string;
  size: number;
  truncated: boolean;
}

/** Reads a request body, keeping at most `limit` bytes (the rest is drained so the answer can still be sent). */
async function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), size, truncated: size > limit };
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json',
  headers?: Record<string, string>,
) {
  send(res, status, JSON.stringify(body), type, headers);
}

function routeOf(path: string): Route {
  if (path === '/iis/soap' || path === '/iis/soap/') return 'soap';
  if (path === '/fhir' || path.startsWith('/fhir/')) return 'fhir';
  if (path === '/oauth/token') return 'token';
  if (path.startsWith('/sim/')) return 'sim';
  return 'other';
}

/** Starts the registry simulator: CDC SOAP, FHIR, OAuth token and /sim admin endpoints on one HTTP port. */
export async function startRegistrySim(options: SimOptions = {}): Promise<RegistrySim> {
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024;
  const remembered = options.maxRememberedMessages ?? 100_000;
  const registry = new Registry(options);
  const soap = new SoapEndpoint(registry, { credentials: options.credentials, maxMessageBytes });
  const fhir = new FhirEndpoint(registry, remembered);
  const tokens = options.oauth ? new TokenIssuer(options.oauth, options.tokenTtlSeconds ?? 3600) : undefined;
  const wsdlText = await readFile(WSDL_FILE, 'utf8');
  // Leave room for XML escaping around the HL7 text, so an oversize message still gets a proper fault.
  const maxSoapBody = Math.max(1024 * 1024, maxMessageBytes * 8);
  let soapUrl = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const route = routeOf(path);

    if (route === 'sim') return admin(req, res, method, path);
    if (route === 'soap' && method === 'GET' && url.searchParams.has('wsdl')) {
      return send(res, 200, wsdlFor(wsdlText, soapUrl), 'text/xml; charset=utf-8');
    }
    if (route === 'token') {
      if (!tokens || method !== 'POST') return sendJson(res, 404, { error: 'not_found' });
      const body = await readBody(req, MAX_ADMIN_BODY);
      const reply = tokens.issue(req.headers, body.text);
      return sendJson(res, reply.status, reply.body, 'application/json', { 'Cache-Control': 'no-store' });
    }
    if (route === 'other') return sendJson(res, 404, { error: `no route for ${method} ${path}` });

    const body = await readBody(req, route === 'soap' ? maxSoapBody : MAX_FHIR_BODY);
    const fault = registry.faults.transport();
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'status') {
      const headers: Record<string, string> =
        fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : {};
      const reason = fault.status === 429 ? 'too many requests' : 'registry unavailable';
      if (route === 'soap') return send(res, fault.status, reason, 'text/plain; charset=utf-8', headers);
      const code = fault.status === 429 ? 'throttled' : 'transient';
      return sendJson(res, fault.status, errorOutcome(code, reason), FHIR_JSON, headers);
    }

    if (route === 'soap') {
      if (method !== 'POST')
        return send(res, 405, 'use POST', 'text/plain; charset=utf-8', { Allow: 'GET, POST' });
      const reply = body.truncated ? soap.tooLarge(body.size) : soap.handle(body.text);
      return send(res, reply.status, reply.body, SOAP_CONTENT_TYPE);
    }

    if (tokens && !tokens.verify(req.headers.authorization)) {
      return sendJson(res, 401, errorOutcome('login', 'a valid Bearer token is required'), FHIR_JSON, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    if (options.hmacSecret) {
      const problem = signatureProblem(options.hmacSecret, req.headers, method, req.url ?? path, body.text);
      if (problem) return sendJson(res, 401, errorOutcome('security', problem), FHIR_JSON);
    }
    if (body.truncated) {
      return sendJson(res, 413, errorOutcome('too-costly', 'request body too large'), FHIR_JSON);
    }
    const key = req.headers['idempotency-key'];
    const reply = fhir.handle(
      method,
      path.slice('/fhir'.length),
      url.searchParams,
      body.text,
      (Array.isArray(key) ? key[0] : key) ?? '',
    );
    if (reply.body === undefined) {
      res.writeHead(reply.status, reply.headers);
      res.end();
      return;
    }
    return sendJson(res, reply.status, reply.body, FHIR_JSON, reply.headers);
  }

  async function admin(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
  ): Promise<void> {
    const route = `${method} ${path}`;
    if (route === 'GET /sim/health') return sendJson(res, 200, { status: 'ok' });
    if (route === 'GET /sim/stats') return sendJson(res, 200, registry.stats());
    if (route === 'GET /sim/doses') return sendJson(res, 200, registry.store.all());
    if (route === 'GET /sim/faults') return sendJson(res, 200, registry.faults.current);
    if (route === 'POST /sim/reset') {
      reset();
      return sendJson(res, 200, { status: 'reset' });
    }
    if (route === 'PUT /sim/faults') {
      const body = await readBody(req, MAX_ADMIN_BODY);
      try {
        registry.faults.set(JSON.parse(body.text) as Partial<Faults>);
      } catch (err) {
        return sendJson(res, 400, { error: (err as Error).message });
      }
      return sendJson(res, 200, registry.faults.current);
    }
    return sendJson(res, 404, { error: `no route for ${route}` });
  }

  function reset(): void {
    registry.reset();
    fhir.reset();
    tokens?.clear();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A simulator bug, not a client mistake: report it without echoing request content.
      console.error(
        `registry-sim: ${req.method} ${req.url?.split('?')[0]} failed: ${(err as Error).message}`,
      );
      if (!res.headersSent) send(res, 500, 'internal simulator error', 'text/plain; charset=utf-8');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = `http://${host}:${address.port}`;
  soapUrl = `${base}/iis/soap`;

  return {
    url: base,
    soapUrl,
    fhirUrl: `${base}/fhir`,
    tokenUrl: `${base}/oauth/token`,
    stats: () => registry.stats(),
    setFaults: (f) => registry.faults.set(f),
    reset,
    doses: () => registry.store.all(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
