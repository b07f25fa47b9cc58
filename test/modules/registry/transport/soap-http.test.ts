import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { soapHttpRequest } from '../../../../src/modules/registry/transport/soap-http.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

async function serve(
  handler: Handler,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const post = (url: string, extra: Partial<Parameters<typeof soapHttpRequest>[0]> = {}) =>
  soapHttpRequest({
    url,
    method: 'POST',
    headers: { 'Content-Type': 'application/soap+xml; charset=utf-8', 'Content-Length': 5 },
    data: '<a/>\n',
    ...extra,
  });

describe('the HTTP client under the SOAP transport', () => {
  let elsewhere: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    elsewhere = await serve((_req, res) => res.end('should never be reached'));
  });
  after(() => elsewhere.close());

  test('sends the body and headers and answers every status with its body (faults come as 4xx/5xx)', async () => {
    const seen: Array<{ method?: string; type?: string; body: string }> = [];
    const server = await serve((req, res, body) => {
      seen.push({ method: req.method, type: req.headers['content-type'], body });
      res.writeHead(500, { 'Content-Type': 'application/soap+xml', 'Retry-After': '7' });
      res.end('<Envelope>fault</Envelope>');
    });
    try {
      const answer = await post(`${server.url}/iis`);
      assert.equal(answer.status, 500);
      assert.equal(answer.headers['retry-after'], '7');
      assert.equal(answer.data, '<Envelope>fault</Envelope>');
      assert.deepEqual(seen, [
        { method: 'POST', type: 'application/soap+xml; charset=utf-8', body: '<a/>\n' },
      ]);
    } finally {
      await server.close();
    }
  });

  test('never follows a redirect: the message is not resent to the new location', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(307, { Location: `${elsewhere.url}/steal` });
      res.end();
    });
    try {
      const answer = await post(`${server.url}/iis`);
      assert.equal(answer.status, 307);
      assert.equal(elsewhere.hits(), 0);
    } finally {
      await server.close();
    }
  });

  test('refuses a response larger than the limit', async () => {
    const server = await serve((_req, res) => res.end('x'.repeat(64 * 1024)));
    try {
      await assert.rejects(post(`${server.url}/iis`, { maxContentLength: 1024 }), {
        code: 'ERR_RESPONSE_TOO_LARGE',
      });
      const fine = await post(`${server.url}/iis`, { maxContentLength: 64 * 1024 });
      assert.equal(fine.data.length, 64 * 1024);
    } finally {
      await server.close();
    }
  });

  test('a silent server times out, an aborted call stops, and a dropped connection is a network error', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/drop') req.socket.destroy();
      else setTimeout(() => res.end('late'), 2_000).unref();
    });
    try {
      const started = Date.now();
      await assert.rejects(post(`${server.url}/slow`, { timeout: 150 }), { code: 'ETIMEDOUT' });
      assert.ok(Date.now() - started < 1_500, 'gave up at the timeout, not when the answer came');
      const controller = new AbortController();
      const aborted = post(`${server.url}/slow`, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(aborted, { name: 'AbortError' });
      await assert.rejects(post(`${server.url}/drop`), { code: 'ECONNRESET' });
    } finally {
      await server.close();
    }
  });
});
