import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

interface Entry {
  resource: { resourceType: string; id: string; [k: string]: unknown };
  search: { mode: string };
}
interface SearchBundle {
  total?: number;
  entry: Entry[];
  link: Array<{ relation: string; url: string }>;
}

describe('FHIR search', () => {
  let h: FhirHarness;
  const ids: Record<string, string> = {} as Record<string, string>;
  const get = async (url: string, headers: Record<string, string> = {}): Promise<SearchBundle> => {
    const res = await h.app.inject({ method: 'GET', url, headers });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    return res.json();
  };
  const matchIds = (b: SearchBundle) =>
    b.entry
      .filter((e) => e.search.mode === 'match')
      .map((e) => e.resource.id)
      .sort();
  const post = async (body: object) =>
    (
      await h.app.inject({
        method: 'POST',
        url: `/fhir/${(body as { resourceType: string }).resourceType}`,
        headers: FHIR,
        payload: body,
      })
    ).json();

  before(async () => {
    h = await fhirHarness();
    const org = await post({
      resourceType: 'Organization',
      name: 'Northside Clinic',
      identifier: [{ system: 'urn:org', value: 'N1' }],
    });
    ids.org = org.id;
    ids.ann = (
      await post(
        patient('Anderson', 'Ann', {
          birthDate: '1975-03-09',
          gender: 'female',
          managingOrganization: { reference: `Organization/${org.id}` },
          identifier: [{ system: 'urn:mrn', value: 'A-1' }],
          telecom: [{ system: 'email', value: 'ann@example.org' }],
        }),
      )
    ).id;
    ids.andy = (
      await post(
        patient('Anders', 'Andy', {
          birthDate: '1975-11-30',
          gender: 'male',
          identifier: [{ system: 'urn:mrn', value: 'A-2' }],
        }),
      )
    ).id;
    ids.bea = (await post(patient('Brown', 'Béatrice', { birthDate: '2001-06-15', gender: 'female' }))).id;
    ids.i1 = (await post(immunization(ids.ann as string, '208', '2021-04-01'))).id;
    ids.i2 = (await post(immunization(ids.ann as string, '08', '2019-01-10', { lotNumber: 'LOT-9' }))).id;
    ids.i3 = (await post(immunization(ids.bea as string, '208', '2022-02-02'))).id;
    ids.obs = (
      await post({
        resourceType: 'Observation',
        status: 'final',
        code: {
          coding: [{ system: 'http://loinc.org', code: '8302-2', display: 'Body height' }],
          text: 'Height',
        },
        subject: { reference: `Patient/${ids.ann}` },
        valueQuantity: { value: 172.5, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' },
        effectiveDateTime: '2020-05-05T10:00:00Z',
      })
    ).id;
  });
  after(() => h.close());

  test('string: prefix and accent-insensitive by default, :exact, :contains on plain values', async () => {
    assert.deepEqual(matchIds(await get('/fhir/Patient?family=anders')), [ids.ann, ids.andy].sort());
    assert.deepEqual(matchIds(await get('/fhir/Patient?family:exact=Anders')), [ids.andy]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?given=beatrice')), [ids.bea]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?name=ann')), [ids.ann]);
    assert.deepEqual(matchIds(await get('/fhir/Organization?name:contains=side')), [ids.org]);
  });

  test(':contains on a blind-indexed name is refused with 400', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/fhir/Patient?family:contains=der' });
    assert.equal(res.statusCode, 400);
  });

  test('several parameters are ANDed, comma-separated values ORed', async () => {
    assert.deepEqual(matchIds(await get('/fhir/Patient?family=anders&given=andy')), [ids.andy]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?given=andy,beatrice')), [ids.andy, ids.bea].sort());
  });

  test('token: code, system|code, |code-less system, :not, :text, identifier, telecom', async () => {
    assert.deepEqual(matchIds(await get('/fhir/Patient?gender=female')), [ids.ann, ids.bea].sort());
    assert.deepEqual(matchIds(await get('/fhir/Patient?gender:not=female')), [ids.andy]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?identifier=urn:mrn|A-2')), [ids.andy]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?identifier=A-1')), [ids.ann]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?identifier=urn:other|A-1')), []);
    assert.deepEqual(matchIds(await get('/fhir/Patient?email=ann@example.org')), [ids.ann]);
    assert.deepEqual(
      matchIds(await get('/fhir/Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|208')),
      [ids.i1, ids.i3].sort(),
    );
    assert.deepEqual(matchIds(await get('/fhir/Observation?code:text=body')), [ids.obs]);
    assert.deepEqual(matchIds(await get('/fhir/Immunization?lot-number=LOT-9')), [ids.i2]);
  });

  test('date: prefixes eq ge gt lt le sa eb ne ap on plain dates', async () => {
    const imm = (q: string) => get(`/fhir/Immunization?${q}`).then(matchIds);
    assert.deepEqual(await imm('date=2021-04-01'), [ids.i1]);
    assert.deepEqual(await imm('date=2021'), [ids.i1]);
    assert.deepEqual(await imm('date=ge2021-01-01'), [ids.i1, ids.i3].sort());
    assert.deepEqual(await imm('date=gt2021-04-01'), [ids.i3]);
    assert.deepEqual(await imm('date=lt2021-04-01'), [ids.i2]);
    assert.deepEqual(await imm('date=le2021-04-01'), [ids.i1, ids.i2].sort());
    assert.deepEqual(await imm('date=sa2021-04-01'), [ids.i3]);
    assert.deepEqual(await imm('date=eb2021-04-01'), [ids.i2]);
    assert.deepEqual(await imm('date=ne2021-04-01'), [ids.i2, ids.i3].sort());
    assert.deepEqual(await imm('date=ap2021-04-03'), [ids.i1]);
    assert.deepEqual(await imm('date=ge2019-01-01&date=lt2022-01-01'), [ids.i1, ids.i2].sort());
  });

  test('birthdate works through the coarsened year and the day blind index', async () => {
    const pat = (q: string) => get(`/fhir/Patient?${q}`).then(matchIds);
    assert.deepEqual(await pat('birthdate=1975-03-09'), [ids.ann]);
    assert.deepEqual(await pat('birthdate=1975'), [ids.ann, ids.andy].sort());
    assert.deepEqual(await pat('birthdate=1975-11'), [ids.andy]);
    assert.deepEqual(await pat('birthdate=gt1975-03-09'), [ids.andy, ids.bea].sort());
    assert.deepEqual(await pat('birthdate=lt1975-11-30'), [ids.ann]);
    assert.deepEqual(await pat('birthdate=le1975-11-30'), [ids.ann, ids.andy].sort());
    assert.deepEqual(await pat('birthdate=ge2000-01-01'), [ids.bea]);
    assert.deepEqual(await pat('birthdate=ne1975-03-09'), [ids.andy, ids.bea].sort());
  });

  test('reference: id, Type/id, absolute URL, :Type modifier, :missing', async () => {
    assert.deepEqual(matchIds(await get(`/fhir/Immunization?patient=${ids.ann}`)), [ids.i1, ids.i2].sort());
    assert.deepEqual(matchIds(await get(`/fhir/Immunization?patient=Patient/${ids.bea}`)), [ids.i3]);
    assert.deepEqual(matchIds(await get(`/fhir/Observation?subject:Patient=${ids.ann}`)), [ids.obs]);
    assert.deepEqual(
      matchIds(await get(`/fhir/Patient?organization=http://iris.test/fhir/Organization/${ids.org}`)),
      [ids.ann],
    );
    assert.deepEqual(
      matchIds(await get('/fhir/Patient?organization:missing=true')),
      [ids.andy, ids.bea].sort(),
    );
    assert.deepEqual(matchIds(await get('/fhir/Patient?organization:missing=false')), [ids.ann]);
  });

  test('quantity and number with prefixes and units', async () => {
    const obs = (q: string) => get(`/fhir/Observation?${q}`).then(matchIds);
    assert.deepEqual(await obs('value-quantity=172.5'), [ids.obs]);
    assert.deepEqual(await obs('value-quantity=gt170|http://unitsofmeasure.org|cm'), [ids.obs]);
    assert.deepEqual(await obs('value-quantity=lt170'), []);
    assert.deepEqual(await obs('value-quantity=172.5||kg'), []);
    assert.deepEqual(await obs('value-quantity=ap170'), [ids.obs]);
  });

  test('_id and _lastUpdated', async () => {
    assert.deepEqual(
      matchIds(await get(`/fhir/Patient?_id=${ids.ann},${ids.bea}`)),
      [ids.ann, ids.bea].sort(),
    );
    assert.equal(matchIds(await get('/fhir/Patient?_lastUpdated=gt2000-01-01')).length, 3);
    assert.equal(matchIds(await get('/fhir/Patient?_lastUpdated=lt2000-01-01')).length, 0);
  });

  test('chaining one level and _has', async () => {
    assert.deepEqual(
      matchIds(await get('/fhir/Immunization?patient.family=anderson')),
      [ids.i1, ids.i2].sort(),
    );
    assert.deepEqual(matchIds(await get('/fhir/Immunization?patient:Patient.birthdate=2001-06-15')), [
      ids.i3,
    ]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?_has:Immunization:patient:vaccine-code=08')), [
      ids.ann,
    ]);
    assert.deepEqual(matchIds(await get('/fhir/Patient?_has:Observation:subject:code=8302-2')), [ids.ann]);
  });

  test('_include, _revinclude and :iterate', async () => {
    const inc = await get(`/fhir/Immunization?_id=${ids.i3}&_include=Immunization:patient`);
    assert.deepEqual(
      inc.entry.map((e) => [e.resource.resourceType, e.search.mode]),
      [
        ['Immunization', 'match'],
        ['Patient', 'include'],
      ],
    );
    const rev = await get(`/fhir/Patient?_id=${ids.ann}&_revinclude=Immunization:patient`);
    assert.equal(rev.entry.filter((e) => e.search.mode === 'include').length, 2);
    const iter = await get(
      `/fhir/Immunization?_id=${ids.i1}&_include=Immunization:patient&_include:iterate=Patient:organization`,
    );
    assert.deepEqual(iter.entry.map((e) => e.resource.resourceType).sort(), [
      'Immunization',
      'Organization',
      'Patient',
    ]);
  });

  test('_sort on several keys, descending, and _count with stable next/previous links', async () => {
    const sorted = await get('/fhir/Immunization?_sort=-date');
    assert.deepEqual(
      sorted.entry.map((e) => e.resource.id),
      [ids.i3, ids.i1, ids.i2],
    );
    const byGender = await get('/fhir/Patient?_sort=gender,-_lastUpdated');
    assert.deepEqual(
      byGender.entry.map((e) => e.resource.id),
      [ids.bea, ids.ann, ids.andy],
    );
    const page1 = await get('/fhir/Patient?_count=2&_sort=_lastUpdated');
    assert.deepEqual(
      page1.entry.map((e) => e.resource.id),
      [ids.ann, ids.andy],
    );
    const next = page1.link.find((l) => l.relation === 'next');
    assert.ok(next);
    // A resource created meanwhile does not shift the pages already handed out.
    await post(patient('Zed', 'Zoe'));
    const page2 = await get(`/fhir/Patient${new URL(next.url).search}`);
    assert.equal(page2.entry[0]?.resource.id, ids.bea);
    const previous = page2.link.find((l) => l.relation === 'previous');
    assert.ok(previous);
    const back = await get(`/fhir/Patient${new URL(previous.url).search}`);
    assert.deepEqual(
      back.entry.map((e) => e.resource.id),
      [ids.ann, ids.andy],
    );
  });

  test('sorting by a blind-indexed value is refused', async () => {
    for (const key of ['family', '-birthdate']) {
      const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient?_sort=${key}` });
      assert.equal(res.statusCode, 400, key);
    }
  });

  test('_total=accurate counts; _summary=count returns the count only; _count max is 1000', async () => {
    const counted = await get('/fhir/Immunization?_total=accurate&_count=1');
    assert.equal(counted.total, 3);
    assert.equal(counted.entry.length, 1);
    const only = await get('/fhir/Immunization?_summary=count');
    assert.equal(only.total, 3);
    assert.equal(only.entry.length, 0);
    const big = await get('/fhir/Immunization?_count=5000');
    assert.equal(big.entry.length, 3);
  });

  test('unknown parameters: ignored and reported (lenient), 400 under handling=strict', async () => {
    const lenient = await get('/fhir/Patient?shoe-size=42&family=brown');
    assert.deepEqual(matchIds(lenient), [ids.bea]);
    const outcome = lenient.entry.find((e) => e.search.mode === 'outcome');
    assert.equal(outcome?.resource.resourceType, 'OperationOutcome');
    assert.ok(!lenient.link[0]?.url.includes('shoe-size'));
    const strict = await h.app.inject({
      method: 'GET',
      url: '/fhir/Patient?shoe-size=42',
      headers: { prefer: 'handling=strict' },
    });
    assert.equal(strict.statusCode, 400);
  });

  test('POST _search with form parameters gives the same result as GET', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient/_search',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'family=anders&gender=male',
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(matchIds(res.json()), [ids.andy]);
  });

  test('search is audited with the patients whose records were returned', async () => {
    await get(`/fhir/Immunization?patient=${ids.bea}`);
    const entry = h.audit.entries.findLast((e) => e.action === 'fhir.search');
    assert.deepEqual(entry?.patientIds, [ids.bea]);
  });

  test('a bad modifier or malformed value is 400', async () => {
    for (const url of [
      '/fhir/Patient?gender:exact=x',
      '/fhir/Immunization?date=yesterday',
      '/fhir/Patient?_count=-1',
    ]) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 400, url);
    }
  });
  test('several name matches together: each may match another name, values OR, repeats AND', async () => {
    // Searched together (intersected on the blind index) rather than one by one.
    const carter = (
      await post({
        resourceType: 'Patient',
        name: [
          { family: 'Carter', given: ['Cleo'] },
          { family: 'Dunn', given: ['Dora'] },
        ],
        gender: 'female',
      })
    ).id;
    const search = async (q: string) => matchIds(await get(`/fhir/Patient?${q}`));
    assert.deepEqual(await search('family=carter&given=dora'), [carter]);
    assert.deepEqual(await search('family=carter&given=cleo&name=dun'), [carter]);
    assert.deepEqual(await search('family=carter&family=dunn'), [carter]);
    assert.deepEqual(await search('family=carter&family=anders'), []);
    assert.deepEqual(await search('family=carter,anders&given=cle,andy'), [carter, ids.andy].sort());
    assert.deepEqual(await search('family=anders&given=andy&gender=female'), []);
    assert.deepEqual(await search('family=anders&given=andy&gender=male'), [ids.andy]);
    assert.deepEqual(await search('family=ander&given=a&_id=' + ids.ann), [ids.ann]);
    const counted = await get('/fhir/Patient?family=ander&given=an&_total=accurate&_count=1');
    assert.equal(counted.total, 2);
    assert.equal(matchIds(counted).length, 1);
  });
});
