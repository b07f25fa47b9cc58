import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EVERY_ROW, FHIR, fhirHarness, immunization, type FhirHarness } from './harness.js';

const PEOPLE = [
  {
    family: 'Quixotehurst',
    given: 'Evangelina',
    mrn: 'MRN-77812345',
    phone: '617-555-0142',
    email: 'evangelina.q@example.org',
    line: '41 Wisteria Lane',
    city: 'Springfieldtown',
    birthDate: '1983-07-19',
  },
  {
    family: 'Balthazarre',
    given: 'Torquil',
    mrn: 'MRN-99120077',
    phone: '+1 212 555 0199',
    email: 'torquil@example.net',
    line: '900 Larkspur Court',
    city: 'Gotham Heights',
    birthDate: '1956-12-02',
  },
];

describe('PHI at rest', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
    for (const p of PEOPLE) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: {
          resourceType: 'Patient',
          name: [{ family: p.family, given: [p.given] }],
          identifier: [{ system: 'urn:mrn', value: p.mrn }],
          telecom: [
            { system: 'phone', value: p.phone },
            { system: 'email', value: p.email },
          ],
          address: [{ line: [p.line], city: p.city }],
          birthDate: p.birthDate,
        },
      });
      assert.equal(res.statusCode, 201);
      const pid = res.json().id;
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Immunization',
        headers: FHIR,
        payload: immunization(pid),
      });
      await h.app.inject({
        method: 'PUT',
        url: `/fhir/Patient/${pid}`,
        headers: FHIR,
        payload: { ...(res.json() as object), gender: 'unknown' },
      });
    }
  });
  after(() => h.close());

  test('a dump of every table holds no test patient name, identifier, phone, email, address or birth date', async () => {
    const tables = await h.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = ANY(current_schemas(false)) AND table_type = 'BASE TABLE'`,
    );
    assert.ok(tables.rows.length >= 10);
    let dump = '';
    for (const { table_name } of tables.rows) {
      const rows = await h.db.query(`SELECT * FROM "${table_name}"`, [], EVERY_ROW);
      dump += JSON.stringify(rows.rows, (_k, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
      );
    }
    assert.ok(dump.length > 10_000, 'the dump is not empty');
    const needles = PEOPLE.flatMap((p) => [
      p.family,
      p.given,
      p.mrn,
      p.phone,
      p.email,
      p.line,
      p.city,
      p.birthDate,
    ]);
    const lower = dump.toLowerCase();
    for (const needle of needles) {
      assert.ok(!lower.includes(needle.toLowerCase()), `found ${needle} in plain text`);
    }
    // Only the birth year is kept in plain (a date index row spanning the whole year).
    assert.ok(!lower.includes('1983-07'), 'birth month must not be stored in plain');
  });

  test('the same records still read back and are found by blind-indexed search', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/fhir/Patient?family=quixote&birthdate=1983-07-19&phone=617-555-0142',
    });
    assert.equal(res.json().entry.length, 1);
    assert.equal(res.json().entry[0].resource.name[0].given[0], 'Evangelina');
  });

  test('swapping ciphertexts between rows makes reads fail instead of returning another record', async () => {
    const rows = await h.db.query<{ id: string }>(
      `SELECT id FROM fhir_resource WHERE resource_type = 'Patient' ORDER BY id`,
      [],
      EVERY_ROW,
    );
    const [a, b] = rows.rows.map((r) => r.id);
    await h.db.query(
      `UPDATE fhir_resource t SET content = s.content, iv = s.iv, wrapped_key = s.wrapped_key, kid = s.kid
       FROM fhir_resource s WHERE t.resource_type = 'Patient' AND t.id = $1 AND s.resource_type = 'Patient' AND s.id = $2`,
      [a, b],
      EVERY_ROW,
    );
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${a}` });
    assert.equal(res.statusCode, 500);
    assert.ok(!res.body.includes(PEOPLE[0]?.family ?? '?') && !res.body.includes(PEOPLE[1]?.family ?? '?'));
  });
});
