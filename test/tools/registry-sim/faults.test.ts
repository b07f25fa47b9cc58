import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as soap from 'soap';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';

const WSDL = fileURLToPath(new URL('../../../reference-data/registry/cdc-iis.wsdl', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function vxu(controlId: string): string {
  return [
    `MSH|^~\\&|IRIS|CLINIC1|IIS|STATE|20240301120000+0000||VXU^V04^VXU_V04|${controlId}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS`,
    'PID|1||MRN7^^^IRIS^MR||Poe^Max||20180707|M',
    `ORC|RE||${controlId}-ORD^IRIS`,
    'RXA|0|1|20240301||20^DTaP^CVX|0.5|mL||00^New record^NIP001||||||L1||SKB^GSK^MVX|||CP|A',
    'OBX|1|CE|64994-7^Eligibility^LN|1|V02^VFC eligible^HL70064||||||F',
  ].join('\r');
}

function soapRequest(hl7: string): string {
  const escaped = hl7.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\r/g, '&#13;');
  return (
    '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>' +
    `<submitSingleMessage xmlns="urn:cdc:iisb:2011"><hl7Message>${escaped}</hl7Message></submitSingleMessage>` +
    '</soap:Body></soap:Envelope>'
  );
}

interface IisClient {
  submitSingleMessageAsync(args: Record<string, string>): Promise<[{ return: string }]>;
}

describe('registry simulator: fault injection and admin API', () => {
  let sim: RegistrySim;
  let client: IisClient;

  const post = (hl7: string) =>
    fetch(sim.soapUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' },
      body: soapRequest(hl7),
    });
  const fhirGet = () => fetch(`${sim.fhirUrl}/Immunization?patient.identifier=MRN7`);

  before(async () => {
    sim = await startRegistrySim({ port: 0 });
    client = (await soap.createClientAsync(WSDL, {
      endpoint: sim.soapUrl,
      forceSoap12Headers: true,
    })) as unknown as IisClient;
  });
  after(() => sim.close());
  beforeEach(() => sim.reset());

  test('http5xxRate answers 503 on SOAP and FHIR but not on /sim', async () => {
    sim.setFaults({ http5xxRate: 1 });
    assert.equal((await post(vxu('F-1'))).status, 503);
    assert.equal((await fhirGet()).status, 503);
    assert.equal((await fetch(`${sim.url}/sim/health`)).status, 200);
    assert.equal(sim.stats().faultsInjected.http5xx, 2);
    assert.equal(sim.doses().length, 0);
  });

  test('a seeded rate is deterministic and roughly proportional', async () => {
    const run = async () => {
      sim.setFaults({ http5xxRate: 0.5, seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await fhirGet()).status);
      return statuses;
    };
    const first = await run();
    const second = await run();
    assert.deepEqual(first, second);
    const failures = first.filter((s) => s === 503).length;
    assert.ok(failures > 8 && failures < 32, `failures: ${failures}`);
  });

  test('http429Rate answers 429 with Retry-After', async () => {
    sim.setFaults({ http429Rate: 1, retryAfterSeconds: 7 });
    const res = await post(vxu('F-2'));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.equal(sim.stats().received, 0);
  });

  test('dropRate destroys the connection without an answer', async () => {
    sim.setFaults({ dropRate: 1 });
    await assert.rejects(client.submitSingleMessageAsync({ hl7Message: vxu('F-3') }));
    await assert.rejects(fhirGet());
    assert.equal(sim.stats().faultsInjected.drop, 2);
    assert.equal(sim.doses().length, 0);
  });

  test('an outage fails every call until it ends, then submissions are accepted once', async () => {
    sim.setFaults({ outage: true });
    assert.equal((await post(vxu('F-4'))).status, 503);
    sim.setFaults({ outageMode: 'drop' });
    await assert.rejects(post(vxu('F-4')));
    sim.setFaults({ outage: false });
    const [result] = await client.submitSingleMessageAsync({ hl7Message: vxu('F-4') });
    assert.match(result.return, /\rMSA\|AA\|F-4/);
    await client.submitSingleMessageAsync({ hl7Message: vxu('F-4') });
    assert.equal(sim.doses().length, 1);
    assert.equal(sim.stats().duplicateControlIds, 1);
    assert.equal(sim.stats().faultsInjected.outage, 2);
  });

  test('forceAck AR rejects a valid message and stores nothing; AE stores it with a warning', async () => {
    sim.setFaults({ forceAck: 'AR' });
    const [rejected] = await client.submitSingleMessageAsync({ hl7Message: vxu('F-5') });
    assert.match(rejected.return, /\rMSA\|AR\|F-5/);
    assert.match(rejected.return, /\rERR\|\|MSH\^1\|207\^Application internal error\^HL70357\|E/);
    assert.equal(sim.doses().length, 0);
    sim.setFaults({ forceAck: 'AE' });
    const [warned] = await client.submitSingleMessageAsync({ hl7Message: vxu('F-6') });
    assert.match(warned.return, /\rMSA\|AE\|F-6/);
    assert.equal(sim.doses().length, 1);
    assert.deepEqual([sim.stats().rejected, sim.stats().acceptedWithErrors], [1, 1]);
  });

  test('soapUnknownFaultRate answers a SOAP UnknownFault', async () => {
    sim.setFaults({ soapUnknownFaultRate: 1 });
    const err = (await client.submitSingleMessageAsync({ hl7Message: vxu('F-7') }).then(
      () => assert.fail('expected a fault'),
      (e: unknown) => e,
    )) as {
      root: {
        Envelope: {
          Body: { Fault: { Code: { Value: string }; Detail: { UnknownFault: { Code: string } } } };
        };
      };
    };
    assert.equal(err.root.Envelope.Body.Fault.Code.Value, 'soap:Receiver');
    assert.equal(err.root.Envelope.Body.Fault.Detail.UnknownFault.Code, '500');
    assert.equal(sim.doses().length, 0);
  });

  test('latency delays the answer', async () => {
    sim.setFaults({ latencyMs: [120, 150] });
    const started = Date.now();
    assert.equal((await fhirGet()).status, 200);
    assert.ok(Date.now() - started >= 115);
  });

  test('PUT /sim/faults, stats, doses and reset work over HTTP', async () => {
    const put = await fetch(`${sim.url}/sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ forceAck: 'AE' }),
    });
    assert.equal(put.status, 200);
    assert.equal(((await put.json()) as { forceAck: string }).forceAck, 'AE');
    const bad = await fetch(`${sim.url}/sim/faults`, {
      method: 'PUT',
      body: JSON.stringify({ dropRate: 2 }),
    });
    assert.equal(bad.status, 400);
    await client.submitSingleMessageAsync({ hl7Message: vxu('F-8') });
    const stats = (await (await fetch(`${sim.url}/sim/stats`)).json()) as {
      received: number;
      storedDoses: number;
    };
    assert.deepEqual([stats.received, stats.storedDoses], [1, 1]);
    const doses = (await (await fetch(`${sim.url}/sim/doses`)).json()) as { controlId: string }[];
    assert.deepEqual(
      doses.map((d) => d.controlId),
      ['F-8'],
    );
    assert.equal((await fetch(`${sim.url}/sim/reset`, { method: 'POST' })).status, 200);
    assert.deepEqual([sim.stats().received, sim.doses().length], [0, 0]);
    const [after] = await client.submitSingleMessageAsync({ hl7Message: vxu('F-8') });
    assert.match(after.return, /\rMSA\|AA\|F-8/);
  });

  test('malformed XML and SOAP 1.1 envelopes get SOAP 1.2 Sender/VersionMismatch faults', async () => {
    const malformed = await fetch(sim.soapUrl, {
      method: 'POST',
      body: '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><a>',
    });
    assert.equal(malformed.status, 500);
    assert.match(await malformed.text(), /<soap:Value>soap:Sender<\/soap:Value>/);
    const v11 = await fetch(sim.soapUrl, {
      method: 'POST',
      body: '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
    });
    assert.match(await v11.text(), /soap:VersionMismatch/);
  });
});

describe('registry simulator: command line', () => {
  test('main.ts prints the URLs and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'tools/registry-sim/main.ts', '--port', '0', '--username', 'u', '--password', 'p'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('/sim/stats')) await once(child.stdout, 'data');
    const soapUrl = /SOAP\s+(\S+)/.exec(out)![1]!;
    const res = await fetch(`${soapUrl}?wsdl`);
    assert.equal(res.status, 200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
