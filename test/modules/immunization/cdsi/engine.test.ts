import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runForecast } from '../../../../src/modules/immunization/cdsi/index.js';
import type { ForecastInput, VaccineGroupForecast } from '../../../../src/modules/immunization/cdsi/index.js';

function group(input: ForecastInput, name: string): VaccineGroupForecast {
  const found = runForecast({ ...input, vaccineGroups: [name] }).vaccineGroups.find(
    (g) => g.vaccineGroup === name,
  );
  assert.ok(found, `vaccine group ${name} missing`);
  return found;
}

describe('CDSi evaluation', () => {
  test('a dose before the absolute minimum age is too young; the 4-day grace period is valid', () => {
    const dtap = group(
      {
        dob: '2025-01-01',
        assessmentDate: '2025-06-01',
        doses: [
          { cvx: '20', date: '2025-02-05' },
          { cvx: '20', date: '2025-02-08' },
        ],
      },
      'DTaP/Tdap/Td',
    );
    assert.deepEqual(
      dtap.evaluations.map((e) => [e.status, e.reason]),
      [
        ['not valid', 'Age: Too Young'],
        ['valid', undefined],
      ],
    );
  });

  test('a dose given before the minimum interval is too soon and the next dose is forecast from it', () => {
    const dtap = group(
      {
        dob: '2025-01-01',
        assessmentDate: '2025-06-01',
        doses: [
          { cvx: '20', date: '2025-03-01' },
          { cvx: '20', date: '2025-03-15' },
        ],
      },
      'DTaP/Tdap/Td',
    );
    assert.equal(dtap.evaluations[1]?.status, 'not valid');
    assert.equal(dtap.evaluations[1]?.reason, 'Interval: Too Soon');
    assert.equal(dtap.targetDose, 2);
    assert.equal(dtap.earliest, '2025-04-12');
  });

  test('live virus vaccines given less than 28 days apart invalidate the later one', () => {
    const result = runForecast({
      dob: '2020-01-01',
      assessmentDate: '2021-06-01',
      vaccineGroups: ['MMR', 'Varicella'],
      doses: [
        { cvx: '03', date: '2021-01-05' },
        { cvx: '21', date: '2021-01-25' },
      ],
    });
    const varicella = result.vaccineGroups.find((g) => g.vaccineGroup === 'Varicella');
    assert.equal(varicella?.evaluations[0]?.status, 'not valid');
    assert.equal(varicella?.evaluations[0]?.reason, 'Live Virus Conflict');
    assert.equal(varicella?.earliest, '2021-02-22');
  });

  test('an inadvertent vaccine is not valid', () => {
    const dtap = group(
      { dob: '2025-01-01', assessmentDate: '2025-04-01', doses: [{ cvx: '115', date: '2025-03-01' }] },
      'DTaP/Tdap/Td',
    );
    assert.equal(dtap.evaluations[0]?.reason, 'Inadvertent Vaccine');
    assert.equal(dtap.targetDose, 1);
  });

  test('doses after a complete series are extraneous', () => {
    const hepA = group(
      {
        dob: '2015-01-01',
        assessmentDate: '2025-06-01',
        doses: [
          { cvx: '83', date: '2016-01-05' },
          { cvx: '83', date: '2016-08-05' },
          { cvx: '83', date: '2017-08-05' },
        ],
      },
      'HepA',
    );
    assert.equal(hepA.status, 'complete');
    assert.equal(hepA.evaluations[2]?.status, 'extraneous');
    assert.equal(hepA.targetDose, undefined);
  });

  test('a sub-standard dose never counts', () => {
    const hepB = group(
      {
        dob: '2025-01-01',
        assessmentDate: '2025-03-01',
        doses: [
          { cvx: '08', date: '2025-01-02', subStandardReason: 'Expired lot' },
          { cvx: '08', date: '2025-01-20' },
        ],
      },
      'HepB',
    );
    assert.deepEqual(
      hepB.evaluations.map((e) => [e.status, e.reason]),
      [
        ['sub-standard', 'Expired lot'],
        ['valid', undefined],
      ],
    );
    assert.equal(hepB.targetDose, 2);
  });

  test('reports doses whose CVX maps to no antigen', () => {
    const result = runForecast({
      dob: '2025-01-01',
      assessmentDate: '2025-06-01',
      vaccineGroups: ['Polio'],
      doses: [
        { cvx: '10', date: '2025-03-01' },
        { cvx: '999', date: '2025-03-01' },
      ],
    });
    assert.deepEqual(result.unmappedDoses, [1]);
  });

  test('doses dated after the assessment date are ignored', () => {
    const polio = group(
      { dob: '2025-01-01', assessmentDate: '2025-03-01', doses: [{ cvx: '10', date: '2025-03-05' }] },
      'Polio',
    );
    assert.deepEqual(polio.evaluations, []);
    assert.equal(polio.targetDose, 1);
  });
});

describe('CDSi forecast', () => {
  test('a newborn is due DTaP #1 at 2 months, earliest at 6 weeks, past due at 3 months + 4 weeks - 1 day', () => {
    const dtap = group({ dob: '2025-11-10', assessmentDate: '2025-11-10', doses: [] }, 'DTaP/Tdap/Td');
    assert.equal(dtap.status, 'not complete');
    assert.equal(dtap.targetDose, 1);
    assert.equal(dtap.earliest, '2025-12-22');
    assert.equal(dtap.recommended, '2026-01-10');
    assert.equal(dtap.pastDue, '2026-03-09');
    assert.ok(dtap.recommendedCvx.includes('20'));
  });

  test('MMR (administer full vaccine group) waits for the antigen that is due last', () => {
    const mmr = group(
      { dob: '2024-11-10', assessmentDate: '2025-11-10', doses: [{ cvx: '05', date: '2025-11-10' }] },
      'MMR',
    );
    assert.equal(mmr.targetDose, 1);
    assert.equal(mmr.earliest, '2025-12-10');
    assert.equal(mmr.pastDue, '2026-04-06');
    assert.deepEqual(mmr.recommendedCvx, ['03']);
  });

  test('series status: aged out, immune, contraindicated, not recommended', () => {
    assert.equal(
      group({ dob: '2015-01-01', assessmentDate: '2025-06-01', doses: [] }, 'Hib').status,
      'aged out',
    );
    assert.equal(
      group({ dob: '1950-01-01', assessmentDate: '2025-06-01', doses: [] }, 'MMR').status,
      'immune',
    );
    const contra = group(
      { dob: '2025-01-01', assessmentDate: '2025-06-01', observations: [{ code: '080' }], doses: [] },
      'DTaP/Tdap/Td',
    );
    assert.equal(contra.status, 'contraindicated');
    assert.match(contra.reason ?? '', /adverse reaction/);
    assert.equal(
      group({ dob: '2000-01-01', assessmentDate: '2025-06-01', doses: [] }, 'Yellow Fever').status,
      'not recommended',
    );
  });

  test('a risk series applies only with its indication', () => {
    const healthy = group({ dob: '1990-01-01', assessmentDate: '2025-06-01', doses: [] }, 'Yellow Fever');
    assert.equal(healthy.status, 'not recommended');
    const traveller = group(
      { dob: '1990-01-01', assessmentDate: '2025-06-01', observations: [{ code: '045' }], doses: [] },
      'Yellow Fever',
    );
    assert.equal(traveller.status, 'not complete');
    assert.equal(traveller.targetDose, 1);
    assert.ok(traveller.recommendedCvx.length > 0);
    const all = runForecast({ dob: '1990-01-01', assessmentDate: '2025-06-01', doses: [] });
    assert.ok(all.vaccineGroups.length >= 20, 'every vaccine group is forecast by default');
  });

  test('rejects malformed dates', () => {
    assert.throws(() => runForecast({ dob: '2025-02-30', doses: [] }), /invalid date/);
    assert.throws(
      () => runForecast({ dob: '2025-01-01', doses: [{ cvx: '20', date: 'yesterday' }] }),
      /invalid date/,
    );
  });
});
