import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import soap from 'soap';
import type { IServerOptions } from 'soap';
import { TransportError } from '../../../../src/modules/registry/transport/errors.js';
import { createTransport } from '../../../../src/modules/registry/transport/index.js';
import { CdcSoapClient } from '../../../../src/modules/registry/transport/soap.js';
import type { RegistryEndpointConfig } from '../../../../src/modules/registry/transport/types.js';

const WSDL = readFileSync(
  new URL('../../../../reference-data/registry/cdc-iis.wsdl', import.meta.url),
  'utf8',
);
const PASSWORD = 'pw-Very$ecret-42';
const HL7 =
  'MSH|^~\\&|IRIS|FAC1|IIS|STATE|20260101120000||VXU^V04^VXU_V04|CTRL-1|P|2.5.1\rPID|1||MRN123^^^IRIS^MR||DOE^JANE<&>';

interface Received {
  username?: string;
  password?: string;
  facilityID?: string;
  hl7Message?: string;
}

let server: http.Server;
let base: string;
let connections = 0;
let received: Received[] = [];
/** Behaviour of the soap.listen service for submitSingleMessage. */
let submitBehaviour: 'ack' | 'unknown-fault-once' | 'slow' = 'ack';
let unknownFaultsSent = 0;

function faultEnvelope(code: 'Sender' | 'Receiver', detail: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>' +
    `<env:Code><env:Value>env:${code}</env:Value></env:Code>` +
    `<env:Reason><env:Text xml:lang="en">fault for ${PASSWORD}</env:Text></env:Reason>` +
    (detail ? `<env:Detail>${detail}</env:Detail>` : '') +
    '</env:Fault></env:Body></env:Envelope>'
  );
}

const cdcFault = (name: string, code: number) =>
  `<iis:${name} xmlns:iis="urn:cdc:iisb:2011"><iis:Code>${code}</iis:Code><iis:Reason>reason</iis:Reason></iis:${name}>`;

/** Hand-written answers at /raw/<case>, for faults and broken responses the soap server cannot produce. */
const RAW: Record<string, { status: number; headers?: Record<string, string>; body: string }> = {
  security: { status: 500, body: faultEnvelope('Sender', cdcFault('SecurityFault', 10)) },
  unknown: { status: 500, body: faultEnvelope('Receiver', cdcFault('UnknownFault', 99)) },
  'too-large': { status: 500, body: faultEnvelope('Sender', cdcFault('MessageTooLargeFault', 30)) },
  'receiver-no-detail': { status: 500, body: faultEnvelope('Receiver', '') },
  'sender-no-detail': { status: 500, body: faultEnvelope('Sender', '') },
  unavailable: {
    status: 503,
    headers: { 'Content-Type': 'text/html', 'Retry-After': '7' },
    body: '<html><body>down</body></html>',
  },
  garbage: { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'this is not SOAP' },
};

function config(overrides: Partial<RegistryEndpointConfig> = {}): RegistryEndpointConfig {
  return {
    id: 'ep-soap',
    name: 'State IIS',
    transport: 'cdc-soap',
    url: `${base}/iis`,
    credentials: { kind: 'soap', username: 'iris-user', password: PASSWORD, facilityId: 'FAC1' },
    timeoutMs: 2000,
    rateLimitPerSecond: 0,
    maxConcurrent: 4,
    retry: { maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
    breaker: { consecutiveFailures: 5, halfOpenAfterMs: 1000 },
    ...overrides,
  };
}

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
  assert.ok(!error.message.includes(PASSWORD), 'password leaked into the error message');
  assert.ok(!error.message.includes('DOE^JANE'), 'message body leaked into the error message');
}

before(async () => {
  server = http.createServer((req, res) => {
    const name = req.url?.startsWith('/raw/') ? req.url.slice(5) : undefined;
    const raw = name ? RAW[name] : undefined;
    req.resume();
    req.on('end', () => {
      if (!raw) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(raw.status, { 'Content-Type': 'application/soap+xml', ...raw.headers }).end(raw.body);
    });
  });
  server.on('connection', () => connections++);
  const services = {
    client_Service: {
      client_Port_Soap12: {
        connectivityTest: (args: { echoBack: string }) => ({
          return: `End-point ready. Echo: ${args.echoBack}`,
        }),
        submitSingleMessage: async (args: Received) => {
          received.push(args);
          if (submitBehaviour === 'slow') await new Promise((resolve) => setTimeout(resolve, 600));
          if (submitBehaviour === 'unknown-fault-once' && unknownFaultsSent++ === 0) {
            throw {
              Fault: {
                Code: { Value: 'soap:Receiver' },
                Reason: { Text: 'try later' },
                Detail: { 'tns:UnknownFault': { 'tns:Code': 1, 'tns:Reason': 'busy' } },
                statusCode: 500,
              },
            };
          }
          return { return: `MSH|^~\\&|IIS\rMSA|AA|${args.hl7Message?.split('|')[9] ?? ''}` };
        },
      },
    },
  };
  soap.listen(server, { path: '/iis', xml: WSDL, services, forceSoap12Headers: true } as IServerOptions);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('CDC SOAP client', () => {
  test('connectivityTest echoes and submitSingleMessage carries credentials and the message intact', async () => {
    received = [];
    submitBehaviour = 'ack';
    const client = new CdcSoapClient(config());
    try {
      assert.equal(await client.connectivityTest('ping-1'), 'End-point ready. Echo: ping-1');
      const ack = await client.submitSingleMessage(HL7);
      assert.equal(ack, 'MSH|^~\\&|IIS\rMSA|AA|CTRL-1');
      assert.equal(received.length, 1);
      assert.deepEqual(received[0], {
        username: 'iris-user',
        password: PASSWORD,
        facilityID: 'FAC1',
        hl7Message: HL7,
      });
    } finally {
      client.close();
    }
  });

  test('reuses one keep-alive connection for many calls', async () => {
    submitBehaviour = 'ack';
    const client = new CdcSoapClient(config({ url: `${base}/iis` }));
    try {
      await client.connectivityTest('warm-up');
      const before = connections;
      for (let i = 0; i < 20; i++) await client.submitSingleMessage(HL7);
      assert.equal(connections - before, 0);
    } finally {
      client.close();
    }
  });

  const faults = [
    { path: 'security', faultName: 'SecurityFault', transient: false, code: '10' },
    { path: 'unknown', faultName: 'UnknownFault', transient: true, code: '99' },
    { path: 'too-large', faultName: 'MessageTooLargeFault', transient: false, code: '30' },
  ];
  for (const fault of faults) {
    test(`${fault.faultName} becomes a ${fault.transient ? 'transient' : 'permanent'} soap-fault`, async () => {
      const client = new CdcSoapClient(config({ url: `${base}/raw/${fault.path}` }));
      try {
        const error = await rejection(client.submitSingleMessage(HL7));
        assert.equal(error.kind, 'soap-fault');
        assert.equal(error.faultName, fault.faultName);
        assert.equal(error.transient, fault.transient);
        assert.equal(error.code, fault.code);
        assert.equal(error.status, 500);
        assertSafe(error);
      } finally {
        client.close();
      }
    });
  }

  test('a fault without CDC detail is transient from the Receiver and permanent from the Sender', async () => {
    const receiver = new CdcSoapClient(config({ url: `${base}/raw/receiver-no-detail` }));
    const sender = new CdcSoapClient(config({ url: `${base}/raw/sender-no-detail` }));
    try {
      const fromReceiver = await rejection(receiver.submitSingleMessage(HL7));
      const fromSender = await rejection(sender.submitSingleMessage(HL7));
      assert.equal(fromReceiver.kind, 'soap-fault');
      assert.equal(fromReceiver.transient, true);
      assert.equal(fromSender.transient, false);
      assertSafe(fromReceiver);
    } finally {
      receiver.close();
      sender.close();
    }
  });

  test('an HTTP 503 page is a transient http error with Retry-After; a non-SOAP 200 is a protocol error', async () => {
    const unavailable = new CdcSoapClient(config({ url: `${base}/raw/unavailable` }));
    const garbage = new CdcSoapClient(config({ url: `${base}/raw/garbage` }));
    try {
      const down = await rejection(unavailable.submitSingleMessage(HL7));
      assert.equal(down.kind, 'http');
      assert.equal(down.status, 503);
      assert.equal(down.transient, true);
      assert.equal(down.retryAfterMs, 7000);
      const broken = await rejection(garbage.submitSingleMessage(HL7));
      assert.equal(broken.kind, 'protocol');
      assert.equal(broken.transient, false);
      assertSafe(broken);
    } finally {
      unavailable.close();
      garbage.close();
    }
  });

  test('a slow registry times out and a closed port is a network error', async () => {
    submitBehaviour = 'slow';
    const slow = new CdcSoapClient(config({ timeoutMs: 150 }));
    const closedServer = http.createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const closedPort = (closedServer.address() as AddressInfo).port;
    await new Promise((resolve) => closedServer.close(resolve));
    const refused = new CdcSoapClient(config({ url: `http://127.0.0.1:${closedPort}/iis` }));
    try {
      const started = Date.now();
      const timedOut = await rejection(slow.submitSingleMessage(HL7));
      assert.equal(timedOut.kind, 'timeout');
      assert.equal(timedOut.transient, true);
      assert.ok(Date.now() - started < 550, 'the timeout did not cut the call short');
      const down = await rejection(refused.submitSingleMessage(HL7));
      assert.equal(down.kind, 'network');
      assert.equal(down.transient, true);
      assert.equal(down.code, 'ECONNREFUSED');
      assertSafe(down);
    } finally {
      submitBehaviour = 'ack';
      slow.close();
      refused.close();
    }
  });
});

describe('CDC SOAP transport', () => {
  test('connectivityTest reports ok with the echo; sendHl7 retries an UnknownFault then succeeds', async () => {
    received = [];
    submitBehaviour = 'unknown-fault-once';
    unknownFaultsSent = 0;
    const transport = createTransport(config({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } }));
    assert.equal(transport.kind, 'cdc-soap');
    if (transport.kind !== 'cdc-soap') return;
    try {
      const check = await transport.connectivityTest();
      assert.equal(check.ok, true);
      assert.match(check.detail ?? '', /Echo: iris-/);
      assert.ok(check.latencyMs >= 0);
      assert.equal(await transport.sendHl7(HL7), 'MSH|^~\\&|IIS\rMSA|AA|CTRL-1');
      assert.equal(received.length, 2);
    } finally {
      submitBehaviour = 'ack';
      await transport.close();
    }
  });

  test('a SecurityFault is not retried and connectivityTest reports failures without throwing', async () => {
    const transport = createTransport(
      config({ url: `${base}/raw/security`, retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } }),
    );
    if (transport.kind !== 'cdc-soap') assert.fail('expected a SOAP transport');
    try {
      const error = await rejection(transport.sendHl7(HL7));
      assert.equal(error.faultName, 'SecurityFault');
      assert.equal(transport.policy.state, 'closed');
      const check = await transport.connectivityTest();
      assert.equal(check.ok, false);
      assert.ok(check.detail && !check.detail.includes(PASSWORD));
    } finally {
      await transport.close();
    }
  });
});
