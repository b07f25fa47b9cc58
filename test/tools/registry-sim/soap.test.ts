import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as soap from 'soap';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';

const WSDL = fileURLToPath(new URL('../../../reference-data/registry/cdc-iis.wsdl', import.meta.url));
const CREDS = { username: 'iris', password: 's3cret', facilityId: 'CLINIC1' };

// Test messages are written by hand, as an independent sender would, never built by product code.
interface Dose {
  orc3?: string;
  cvx?: string;
  date?: string;
  source?: string;
  status?: string;
  action?: string;
  vfc?: boolean;
  lot?: string;
}

function vxu(
  controlId: string,
  doses: Dose[],
  pid = 'PID|1||MRN100^^^IRIS^MR||Doe\\T\\Co^Jane^^^^^L||20200115|F',
): string {
  const segments = [
    `MSH|^~\\&|IRIS|CLINIC1|IIS|STATE|20240301120000+0000||VXU^V04^VXU_V04|${controlId}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS`,
    pid,
  ];
  doses.forEach((d, i) => {
    const cvx = d.cvx === undefined ? '08^Hep B^CVX' : d.cvx;
    segments.push(`ORC|RE||${d.orc3 ?? `ORD${i + 1}`}^IRIS`);
    segments.push(
      `RXA|0|1|${d.date ?? '20240301'}||${cvx}|0.5|mL^mL^UCUM||${d.source ?? '00'}^New record^NIP001||||||${d.lot ?? 'LOT1'}||MSD^Merck^MVX|||${d.status ?? 'CP'}|${d.action ?? 'A'}`,
    );
    segments.push('RXR|C28161^Intramuscular^NCIT|LA^Left arm^HL70163');
    if (d.vfc !== false) segments.push('OBX|1|CE|64994-7^Eligibility^LN|1|V02^VFC eligible^HL70064||||||F');
  });
  return segments.join('\r');
}

function qbp(controlId: string, profile: 'Z34' | 'Z44', qpdCriteria: string): string {
  const name = profile === 'Z34' ? 'Request Immunization History' : 'Request Evaluated History and Forecast';
  return [
    `MSH|^~\\&|IRIS|CLINIC1|IIS|STATE|20240301120000+0000||QBP^Q11^QBP_Q11|${controlId}|P|2.5.1|||ER|AL|||||${profile}^CDCPHINVS`,
    `QPD|${profile}^${name}^CDCPHINVS|TAG-${controlId}|${qpdCriteria}`,
    'RCP|I|10^RD&Records&HL70126',
  ].join('\r');
}

function segments(hl7: string, name: string): string[][] {
  return hl7
    .split(/\r\n|\r|\n/)
    .filter((s) => s.startsWith(`${name}|`))
    .map((s) => s.split('|'));
}

interface IisClient {
  connectivityTestAsync(args: { echoBack: string }): Promise<[{ return: string }]>;
  submitSingleMessageAsync(args: Record<string, string>): Promise<[{ return: string }]>;
}

interface SoapError {
  response?: { status: number };
  root?: {
    Envelope: {
      Body: {
        Fault: {
          Code: { Value: string };
          Reason: { Text: unknown };
          Detail: Record<string, Record<string, string>>;
        };
      };
    };
  };
}

describe('registry simulator: CDC SOAP transport', () => {
  let sim: RegistrySim;
  let client: IisClient;

  const submit = async (
    hl7: string,
    creds: Record<string, string> = { ...CREDS, facilityID: CREDS.facilityId },
  ) => {
    const [result] = await client.submitSingleMessageAsync({
      username: creds.username!,
      password: creds.password!,
      facilityID: creds.facilityID!,
      hl7Message: hl7,
    });
    return result.return;
  };

  const fault = async (hl7: string, creds?: Record<string, string>) => {
    const err = (await submit(hl7, creds).then(
      () => assert.fail('expected a SOAP fault'),
      (e: unknown) => e,
    )) as SoapError;
    assert.equal(err.response?.status, 500);
    return err.root!.Envelope.Body.Fault;
  };

  before(async () => {
    sim = await startRegistrySim({ port: 0, credentials: CREDS, maxMessageBytes: 4096 });
    client = (await soap.createClientAsync(WSDL, {
      endpoint: sim.soapUrl,
      forceSoap12Headers: true,
    })) as unknown as IisClient;
  });
  after(() => sim.close());
  beforeEach(() => sim.reset());

  test('connectivityTest echoes the text back', async () => {
    const [result] = await client.connectivityTestAsync({ echoBack: 'ping & <pong>' });
    assert.equal(result.return, 'ping & <pong>');
  });

  test('the WSDL is served with this endpoint as its address', async () => {
    const res = await fetch(`${sim.soapUrl}?wsdl`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /targetNamespace="urn:cdc:iisb:2011"/);
    assert.ok(text.includes(`location="${sim.soapUrl}"`));
  });

  test('a valid VXU is acknowledged AA and its dose stored with decoded fields', async () => {
    const ack = await submit(vxu('MSG-1', [{ orc3: 'ORD-A', lot: 'AB\\F\\12' }]));
    const [msh] = segments(ack, 'MSH');
    assert.equal(msh![8], 'ACK^V04^ACK');
    assert.equal(msh![20], 'Z23^CDCPHINVS');
    assert.equal(msh![11], '2.5.1');
    assert.deepEqual(segments(ack, 'MSA')[0]!.slice(1, 3), ['AA', 'MSG-1']);
    assert.equal(segments(ack, 'ERR').length, 0);
    const [dose] = sim.doses();
    assert.equal(sim.doses().length, 1);
    assert.equal(dose!.patientId, 'MRN100');
    assert.equal(dose!.assigningAuthority, 'IRIS');
    assert.deepEqual(dose!.patientName, { family: 'Doe&Co', given: 'Jane' });
    assert.equal(dose!.dob, '20200115');
    assert.equal(dose!.cvx, '08');
    assert.equal(dose!.date, '20240301');
    assert.equal(dose!.lot, 'AB|12');
    assert.equal(dose!.mvx, 'MSD');
    assert.equal(dose!.historical, false);
    assert.equal(dose!.fillerOrder, 'ORD-A');
    assert.equal(dose!.controlId, 'MSG-1');
    assert.equal(sim.stats().accepted, 1);
  });

  test('a VXU without RXA-5 is rejected AR with ERR 101 and nothing is stored', async () => {
    const ack = await submit(vxu('MSG-2', [{ cvx: '' }]));
    assert.equal(segments(ack, 'MSA')[0]![1], 'AR');
    const err = segments(ack, 'ERR').find((e) => e[2] === 'RXA^1^5^1');
    assert.ok(err, ack);
    assert.equal(err[3], '101^Required field missing^HL70357');
    assert.equal(err[4], 'E');
    assert.equal(sim.doses().length, 0);
    assert.equal(sim.stats().rejected, 1);
  });

  test('missing PID fields and RXA-9 on a completed dose are each reported', async () => {
    const ack = await submit(vxu('MSG-3', [{ source: '' }], 'PID|1||^^^IRIS^MR||||20200115'));
    assert.equal(segments(ack, 'MSA')[0]![1], 'AR');
    const locations = segments(ack, 'ERR').map((e) => e[2]);
    for (const loc of ['PID^1^3^1', 'PID^1^5^1', 'PID^1^8^1', 'RXA^1^9^1'])
      assert.ok(locations.includes(loc), loc);
  });

  test('an administered dose without the VFC OBX is accepted AE with a warning and stored', async () => {
    const ack = await submit(vxu('MSG-4', [{ vfc: false }]));
    assert.equal(segments(ack, 'MSA')[0]![1], 'AE');
    const [err] = segments(ack, 'ERR');
    assert.equal(err![4], 'W');
    assert.match(err![8]!, /64994-7/);
    assert.equal(sim.doses().length, 1);
    assert.equal(sim.stats().acceptedWithErrors, 1);
  });

  test('a historical dose needs no VFC OBX and an unknown CVX only warns', async () => {
    assert.equal(segments(await submit(vxu('MSG-5', [{ source: '01', vfc: false }])), 'MSA')[0]![1], 'AA');
    const ack = await submit(vxu('MSG-6', [{ orc3: 'X9', cvx: '9876^Mystery^CVX' }]));
    assert.equal(segments(ack, 'MSA')[0]![1], 'AE');
    assert.equal(segments(ack, 'ERR')[0]![3], '103^Table value not found^HL70357');
    assert.equal(sim.doses().length, 2);
    assert.equal(sim.doses().find((d) => d.fillerOrder === 'ORD1')!.historical, true);
  });

  test('a repeated control id gets the same ACK, is stored once and is counted', async () => {
    const message = vxu('MSG-7', [{ orc3: 'ORD-7' }]);
    const first = await submit(message);
    const second = await submit(message);
    assert.equal(second, first);
    assert.equal(sim.doses().length, 1);
    assert.equal(sim.stats().duplicateControlIds, 1);
    assert.equal(sim.stats().received, 2);
    assert.equal(sim.stats().accepted, 1);
  });

  test('RXA-21 U replaces and D removes the dose with the same ORC-3', async () => {
    await submit(vxu('MSG-8', [{ orc3: 'ORD-8', lot: 'OLD' }, { orc3: 'ORD-9' }]));
    assert.equal(sim.doses().length, 2);
    await submit(vxu('MSG-9', [{ orc3: 'ORD-8', lot: 'NEW', action: 'U' }]));
    assert.deepEqual(
      sim.doses().map((d) => [d.fillerOrder, d.lot]),
      [
        ['ORD-9', 'LOT1'],
        ['ORD-8', 'NEW'],
      ],
    );
    const ack = await submit(vxu('MSG-10', [{ orc3: 'ORD-8', action: 'D' }]));
    assert.equal(segments(ack, 'MSA')[0]![1], 'AA');
    assert.deepEqual(
      sim.doses().map((d) => d.fillerOrder),
      ['ORD-9'],
    );
  });

  test('wrong credentials answer a SOAP 1.2 SecurityFault', async () => {
    const f = await fault(vxu('MSG-11', [{}]), { username: 'iris', password: 'nope', facilityID: 'CLINIC1' });
    assert.equal(f.Code.Value, 'soap:Sender');
    assert.equal(f.Detail.SecurityFault!.Code, '401');
    assert.equal(sim.stats().received, 0);
    const other = await fault(vxu('MSG-12', [{}]), {
      username: 'iris',
      password: 's3cret',
      facilityID: 'ELSEWHERE',
    });
    assert.ok(other.Detail.SecurityFault);
  });

  test('a message over the limit answers MessageTooLargeFault with its size', async () => {
    const big = vxu(
      'MSG-13',
      Array.from({ length: 40 }, (_, i) => ({ orc3: `BIG${i}` })),
    );
    const f = await fault(big);
    const detail = f.Detail.MessageTooLargeFault!;
    assert.equal(detail.Size, String(Buffer.byteLength(big)));
    assert.equal(detail.MaxSize, '4096');
    assert.equal(sim.doses().length, 0);
  });

  test('QBP Z34 returns RSP Z32 with the stored doses', async () => {
    await submit(vxu('MSG-14', [{ orc3: 'H1', cvx: '20^DTaP^CVX', date: '20230101' }, { orc3: 'H2' }]));
    const rsp = await submit(qbp('Q-1', 'Z34', 'MRN100^^^IRIS^MR'));
    assert.equal(segments(rsp, 'MSH')[0]![8], 'RSP^K11^RSP_K11');
    assert.equal(segments(rsp, 'MSH')[0]![20], 'Z32^CDCPHINVS');
    assert.deepEqual(segments(rsp, 'MSA')[0]!.slice(1, 3), ['AA', 'Q-1']);
    assert.deepEqual(segments(rsp, 'QAK')[0]!.slice(1, 3), ['TAG-Q-1', 'OK']);
    assert.equal(segments(rsp, 'QPD')[0]![2], 'TAG-Q-1');
    assert.equal(segments(rsp, 'PID').length, 1);
    assert.deepEqual(
      segments(rsp, 'RXA').map((r) => [r[3], r[5]!.split('^')[0]]),
      [
        ['20230101', '20'],
        ['20240301', '08'],
      ],
    );
    assert.equal(segments(rsp, 'ORC').length, 2);
    assert.equal(segments(rsp, 'RXR').length, 2);
    assert.equal(sim.stats().queries, 1);
  });

  test('QBP Z44 by name and birth date returns RSP Z42 with evaluation and forecast', async () => {
    await submit(vxu('MSG-15', [{ orc3: 'F1', cvx: '03^MMR^CVX', date: '20210120' }]));
    const rsp = await submit(qbp('Q-2', 'Z44', '|Doe\\T\\Co^Jane^^^^^L||20200115|F'));
    assert.equal(segments(rsp, 'MSH')[0]![20], 'Z42^CDCPHINVS');
    const obx = segments(rsp, 'OBX');
    const byCode = (code: string) => obx.filter((o) => o[3]!.startsWith(`${code}^`));
    assert.equal(byCode('59781-5')[0]![5], 'Y^Yes^HL70136');
    assert.equal(byCode('30980-7')[0]![5], '20220120');
    assert.ok(byCode('30981-5')[0]![5]! < '20220120');
    assert.ok(byCode('59783-1').length === 1);
    assert.ok(byCode('30956-7').some((o) => o[5]!.startsWith('03^')));
  });

  test('an unknown patient answers Z33 with QAK NF, several matches answer Z31', async () => {
    const nf = await submit(qbp('Q-3', 'Z34', 'NOBODY^^^IRIS^MR'));
    assert.equal(segments(nf, 'MSH')[0]![20], 'Z33^CDCPHINVS');
    assert.equal(segments(nf, 'QAK')[0]![2], 'NF');
    assert.equal(segments(nf, 'PID').length, 0);

    await submit(vxu('MSG-16', [{}], 'PID|1||TWIN1^^^IRIS^MR||Roe^Ann||20190101|F'));
    await submit(vxu('MSG-17', [{}], 'PID|1||TWIN2^^^IRIS^MR||Roe^Ann||20190101|F'));
    const list = await submit(qbp('Q-4', 'Z34', '|Roe^Ann||20190101'));
    assert.equal(segments(list, 'MSH')[0]![20], 'Z31^CDCPHINVS');
    assert.equal(segments(list, 'QAK')[0]![2], 'OK');
    assert.equal(segments(list, 'PID').length, 2);
    assert.equal(segments(list, 'RXA').length, 0);
  });

  test('a malformed query is rejected AR', async () => {
    const rsp = await submit(qbp('Q-5', 'Z34', ''));
    assert.equal(segments(rsp, 'MSA')[0]![1], 'AR');
    assert.equal(segments(rsp, 'ERR')[0]![3], '101^Required field missing^HL70357');
  });
});
