import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ImmunizationEvaluation, ImmunizationRecommendation, Parameters } from 'fhir/r4.js';
import { runForecast } from '../../../src/modules/immunization/cdsi/index.js';
import type { TestApp } from '../../helpers/app.js';
import { bearer, immunizationApp, tokenFor } from './helpers.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';

function immunization(id: string, cvx: string, date: string, status = 'completed') {
  return {
    name: 'immunization',
    resource: {
      resourceType: 'Immunization',
      id,
      status,
      vaccineCode: { coding: [{ system: CVX, code: cvx }] },
      patient: { reference: 'Patient/p1' },
      occurrenceDateTime: date,
    },
  };
}

function request(...doses: ReturnType<typeof immunization>[]): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'assessmentDate', valueDate: '2024-09-15' },
      {
        name: 'patient',
        resource: { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '2024-01-10' },
      },
      ...(doses as Parameters['parameter'] & object),
    ],
  };
}

describe('POST /fhir/$immds-forecast', () => {
  let t: TestApp;
  let token: string;
  before(async () => {
    t = await immunizationApp();
    token = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
  });
  after(() => t.close());

  const post = (body: unknown, as: string | null = token) =>
    t.app.inject({
      method: 'POST',
      url: '/fhir/$immds-forecast',
      headers: { 'content-type': 'application/fhir+json', ...(as ? bearer(as) : {}) },
      payload: JSON.stringify(body),
    });

  test('needs an access token granting immunization:read', async () => {
    const body = request(immunization('dtap1', '20', '2024-03-10'));
    const anonymous = await post(body, null);
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().resourceType, 'OperationOutcome');
    const registrar = await tokenFor(t, ['registrar'], { organizationId: 'org1' });
    assert.equal((await post(body, registrar)).statusCode, 403);
    const integration = await tokenFor(t, ['integration'], { organizationId: 'org1' });
    assert.equal((await post(body, integration)).statusCode, 200);
  });

  test('answers one recommendation per vaccine group and one evaluation per dose and group', async () => {
    const body = request(
      immunization('dtap1', '20', '2024-03-10T09:30:00Z'),
      immunization('dtap2', '20', '2024-05-12'),
      immunization('refused', '20', '2024-07-12', 'not-done'),
    );
    const res = await post(body);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.headers['content-type'] as string, /^application\/fhir\+json/);
    const out = res.json() as Parameters;
    assert.equal(out.resourceType, 'Parameters');
    const recommendation = out.parameter?.find((p) => p.name === 'recommendation')
      ?.resource as ImmunizationRecommendation;
    const evaluations = out.parameter
      ?.filter((p) => p.name === 'evaluation')
      .map((p) => p.resource as ImmunizationEvaluation);

    const expected = runForecast({
      dob: '2024-01-10',
      gender: 'F',
      assessmentDate: '2024-09-15',
      doses: [
        { id: 'dtap1', cvx: '20', date: '2024-03-10' },
        { id: 'dtap2', cvx: '20', date: '2024-05-12' },
      ],
    });
    assert.equal(recommendation.patient.reference, 'Patient/p1');
    assert.equal(recommendation.date, '2024-09-15');
    assert.equal(recommendation.recommendation.length, expected.vaccineGroups.length);
    assert.deepEqual(
      recommendation.recommendation.map((r) => r.vaccineCode?.[0]?.text),
      expected.vaccineGroups.map((g) => g.vaccineGroup),
    );

    const dtapGroup = expected.vaccineGroups.find((g) => g.vaccineGroup === 'DTaP/Tdap/Td')!;
    const dtap = recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'DTaP/Tdap/Td')!;
    assert.equal(dtap.doseNumberPositiveInt, 3);
    assert.equal(dtap.doseNumberPositiveInt, dtapGroup.targetDose);
    assert.equal(dtap.forecastStatus.text, 'not complete');
    // Assessed after the past-due date of dose 3: overdue.
    assert.ok(dtapGroup.pastDue && dtapGroup.pastDue <= '2024-09-15');
    assert.equal(dtap.forecastStatus.coding?.[0]?.code, 'overdue');
    const criteria = Object.fromEntries(
      (dtap.dateCriterion ?? []).map((c) => [c.code.coding?.[0]?.code, c.value]),
    );
    assert.equal(criteria['30981-5'], dtapGroup.earliest);
    assert.equal(criteria['30980-7'], dtapGroup.recommended);
    assert.equal(criteria['59778-1'], dtapGroup.pastDue);
    assert.deepEqual(
      dtap.supportingImmunization?.map((s) => s.reference),
      ['Immunization/dtap1', 'Immunization/dtap2'],
    );
    for (const coding of dtap.vaccineCode?.[0]?.coding ?? []) assert.equal(coding.system, CVX);

    // DTaP (CVX 20) carries three antigens of one group: one evaluation per dose for that group.
    const dtapEvaluations = evaluations?.filter((e) => e.targetDisease.text === 'DTaP/Tdap/Td') ?? [];
    assert.deepEqual(
      dtapEvaluations.map((e) => [
        e.immunizationEvent.reference,
        e.doseStatus.coding?.[0]?.code,
        e.doseStatus.text,
      ]),
      [
        ['Immunization/dtap1', 'valid', 'valid'],
        ['Immunization/dtap2', 'valid', 'valid'],
      ],
    );
    assert.ok(evaluations?.every((e) => e.immunizationEvent.reference !== 'Immunization/refused'));
  });

  test('a dose given too young is not valid, with the CDSi reason', async () => {
    const res = await post(request(immunization('early', '20', '2024-01-20')));
    assert.equal(res.statusCode, 200, res.body);
    const evaluation = (res.json() as Parameters).parameter
      ?.filter((p) => p.name === 'evaluation')
      .map((p) => p.resource as ImmunizationEvaluation)
      .find((e) => e.targetDisease.text === 'DTaP/Tdap/Td');
    assert.equal(evaluation?.doseStatus.coding?.[0]?.code, 'notvalid');
    assert.equal(evaluation?.doseStatus.text, 'not valid');
    assert.match(evaluation?.doseStatusReason?.[0]?.text ?? '', /young/i);
  });

  test('an active Condition maps to a CDSi observation; a resolved one does not', async () => {
    const pregnancy = (clinicalStatus: string) => ({
      name: 'condition',
      resource: {
        resourceType: 'Condition',
        clinicalStatus: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: clinicalStatus },
          ],
        },
        code: { coding: [{ system: 'http://snomed.info/sct', code: '77386006' }] },
        subject: { reference: 'Patient/w1' },
        onsetDateTime: '2024-06-01',
      },
    });
    const mmrStatus = async (condition: ReturnType<typeof pregnancy>) => {
      const res = await post({
        resourceType: 'Parameters',
        parameter: [
          { name: 'assessmentDate', valueDate: '2024-09-15' },
          {
            name: 'patient',
            resource: { resourceType: 'Patient', id: 'w1', gender: 'female', birthDate: '1995-04-02' },
          },
          condition,
        ],
      });
      assert.equal(res.statusCode, 200, res.body);
      const recommendation = (res.json() as Parameters).parameter?.[0]
        ?.resource as ImmunizationRecommendation;
      return recommendation.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'MMR')?.forecastStatus;
    };
    const active = await mmrStatus(pregnancy('active'));
    assert.equal(active?.text, 'contraindicated');
    assert.equal(active?.coding?.[0]?.code, 'contraindicated');
    const resolved = await mmrStatus(pregnancy('resolved'));
    assert.notEqual(resolved?.text, 'contraindicated');
  });

  test('invalid requests get an OperationOutcome naming each problem, never a 500', async () => {
    const res = await post({
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', resource: { resourceType: 'Patient', id: 'x' } },
        {
          name: 'immunization',
          resource: { resourceType: 'Immunization', status: 'completed', vaccineCode: { text: 'flu' } },
        },
        { name: 'colour', valueString: 'blue' },
      ],
    });
    assert.equal(res.statusCode, 400);
    const outcome = res.json();
    assert.equal(outcome.resourceType, 'OperationOutcome');
    const messages = outcome.issue.map((i: { diagnostics: string; expression?: string[] }) => [
      i.expression?.[0],
      i.diagnostics,
    ]);
    assert.deepEqual(messages, [
      [
        'Parameters.parameter[1].resource.vaccineCode',
        `Immunization needs a vaccineCode coding with system ${CVX}`,
      ],
      ['Parameters.parameter[2].name', 'unknown parameter "colour"'],
      ['Parameters', 'assessmentDate is required'],
      [
        'Parameters.parameter[0].resource.birthDate',
        'the patient needs a full birthDate (YYYY-MM-DD) to be forecast',
      ],
    ]);
    const notParameters = await post({ resourceType: 'Patient' });
    assert.equal(notParameters.statusCode, 400);
    assert.equal(notParameters.json().resourceType, 'OperationOutcome');
  });
});
