import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type {
  Bundle,
  ImmunizationEvaluation,
  ImmunizationRecommendation,
  OperationOutcome,
  Parameters,
} from 'fhir/r4.js';
import { authFor } from '../../../src/modules/auth/index.js';
import { validationIssues } from '../../../src/modules/fhir/validation.js';
import { recommendationId } from '../../../src/modules/immunization/index.js';
import { RECOMMENDATION_SUBSCRIBER } from '../../../src/modules/immunization/store/subscriber.js';
import type { TestApp } from '../../helpers/app.js';
import {
  bearer,
  eventually,
  FHIR_JSON,
  immunizationApp,
  immunizationResource,
  patientResource,
  tokenFor,
} from './helpers.js';

function recommendationOf(out: Parameters): ImmunizationRecommendation {
  return out.parameter?.find((p) => p.name === 'recommendation')?.resource as ImmunizationRecommendation;
}

/** Evaluations without their generated ids, in a stable order. */
function evaluationsOf(out: Parameters) {
  return (out.parameter ?? [])
    .filter((p) => p.name === 'evaluation')
    .map((p) => {
      const { id: _id, ...rest } = p.resource as ImmunizationEvaluation;
      return rest;
    })
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('Patient/{id}/$immds-forecast', () => {
  let t: TestApp;
  let nurse: string;
  let otherPatient: string;
  let registrar: string;

  const put = async (resource: { resourceType: string; id: string }) => {
    const res = await t.app.inject({
      method: 'PUT',
      url: `/fhir/${resource.resourceType}/${resource.id}`,
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify(resource),
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
  };

  before(async () => {
    t = await immunizationApp();
    nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
    registrar = await tokenFor(t, ['registrar'], { organizationId: 'org1' });
    await put(patientResource('pf1', '2024-01-10'));
    await put(immunizationResource('pf1-dtap1', 'pf1', '20', '2024-03-10'));
    await put(immunizationResource('pf1-dtap2', 'pf1', '20', '2024-05-12'));
    await put(immunizationResource('pf1-early', 'pf1', '10', '2024-01-20'));
    await put(patientResource('pf2', '2023-06-01'));
    otherPatient = await tokenFor(t, ['patient'], { patientId: 'pf2' });
  });
  after(() => t.close());

  const forecast = (id: string, token?: string, query = '?assessmentDate=2024-09-15') =>
    t.app.inject({
      method: 'GET',
      url: `/fhir/Patient/${id}/$immds-forecast${query}`,
      headers: token ? bearer(token) : {},
    });

  test('forecasts from the stored records exactly as $immds-forecast does from the same data', async () => {
    const res = await forecast('pf1', nurse);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/fhir\+json/);
    const stored = res.json() as Parameters;

    // The same records, read back and sent to the system-level operation.
    const patient = (await t.app.inject({ url: '/fhir/Patient/pf1', headers: bearer(nurse) })).json();
    const bundle = (
      await t.app.inject({ url: '/fhir/Immunization?patient=Patient/pf1', headers: bearer(nurse) })
    ).json() as Bundle;
    assert.equal(bundle.entry?.length, 3);
    const direct = await t.app.inject({
      method: 'POST',
      url: '/fhir/$immds-forecast',
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify({
        resourceType: 'Parameters',
        parameter: [
          { name: 'assessmentDate', valueDate: '2024-09-15' },
          { name: 'patient', resource: patient },
          ...(bundle.entry ?? []).map((e) => ({ name: 'immunization', resource: e.resource })),
        ],
      }),
    });
    assert.equal(direct.statusCode, 200, direct.body);
    const expected = direct.json() as Parameters;

    const got = recommendationOf(stored);
    assert.equal(got.patient.reference, 'Patient/pf1');
    assert.equal(got.date, '2024-09-15');
    assert.deepEqual(got.recommendation, recommendationOf(expected).recommendation);
    assert.deepEqual(evaluationsOf(stored), evaluationsOf(expected));
    const dtap = got.recommendation.find((r) => r.vaccineCode?.[0]?.text === 'DTaP/Tdap/Td');
    assert.equal(dtap?.doseNumberPositiveInt, 3);
    assert.ok(
      evaluationsOf(stored).some(
        (e) =>
          e.immunizationEvent.reference === 'Immunization/pf1-early' && e.doseStatus.text === 'not valid',
      ),
    );
  });

  test('POST with a Parameters assessmentDate answers the same as GET', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir/Patient/pf1/$immds-forecast',
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify({
        resourceType: 'Parameters',
        parameter: [{ name: 'assessmentDate', valueDate: '2024-09-15' }],
      }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const viaGet = (await forecast('pf1', nurse)).json() as Parameters;
    assert.deepEqual(
      recommendationOf(res.json() as Parameters).recommendation,
      recommendationOf(viaGet).recommendation,
    );
  });

  test('without assessmentDate the forecast is as of today', async () => {
    const res = await forecast('pf1', nurse, '');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(recommendationOf(res.json() as Parameters).date, new Date().toISOString().slice(0, 10));
  });

  test('an unknown patient is 404 with an OperationOutcome', async () => {
    const res = await forecast('nobody', nurse);
    assert.equal(res.statusCode, 404);
    assert.equal((res.json() as OperationOutcome).resourceType, 'OperationOutcome');
  });

  test('a caller scoped to another patient gets 404, as on a FHIR read; their own record is served', async () => {
    const res = await forecast('pf1', otherPatient);
    assert.equal(res.statusCode, 404, res.body);
    assert.equal((res.json() as OperationOutcome).resourceType, 'OperationOutcome');
    const own = await forecast('pf2', otherPatient);
    assert.equal(own.statusCode, 200, own.body);
    assert.equal(recommendationOf(own.json() as Parameters).patient.reference, 'Patient/pf2');
  });

  test('unauthenticated is 401; without immunization:read is 403', async () => {
    const anonymous = await forecast('pf1');
    assert.equal(anonymous.statusCode, 401);
    assert.equal((anonymous.json() as OperationOutcome).resourceType, 'OperationOutcome');
    assert.equal((await forecast('pf1', registrar)).statusCode, 403);
  });

  test('a malformed assessmentDate or a foreign parameter is a 400 OperationOutcome', async () => {
    const bad = await forecast('pf1', nurse, '?assessmentDate=2024-13-45');
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.stringify(bad.json()), /assessmentDate must be a full date/);
    const foreign = await t.app.inject({
      method: 'POST',
      url: '/fhir/Patient/pf1/$immds-forecast',
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify({
        resourceType: 'Parameters',
        parameter: [{ name: 'patient', resource: { resourceType: 'Patient' } }],
      }),
    });
    assert.equal(foreign.statusCode, 400);
    assert.equal((foreign.json() as OperationOutcome).resourceType, 'OperationOutcome');
  });
});

describe('stored ImmunizationRecommendation, refreshed on Immunization events', () => {
  let t: TestApp;
  let nurse: string;

  before(async () => {
    t = await immunizationApp();
    // No built-in role deletes immunization records: a local one that may.
    await authFor(t.runtime.ctx).admin.policy.saveRole(
      {
        name: 'immunization_clerk',
        patientScope: 'organization',
        permissions: [
          'patient:read',
          'patient:write',
          'immunization:read',
          'immunization:write',
          'immunization:delete',
        ],
      },
      'create',
      { type: 'system', id: 'test' },
      { ip: '127.0.0.1', requestId: 'test' },
    );
    nurse = await tokenFor(t, ['immunization_clerk'], { organizationId: 'org1' });
    const res = await t.app.inject({
      method: 'PUT',
      url: '/fhir/Patient/sub1',
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify(patientResource('sub1', '2025-01-10')),
    });
    assert.equal(res.statusCode, 201, res.body);
  });
  after(() => t.close());

  const recommendationUrl = `/fhir/ImmunizationRecommendation/${recommendationId('sub1')}`;
  const stored = async () => {
    const res = await t.app.inject({ url: recommendationUrl, headers: bearer(nurse) });
    return res.statusCode === 200 ? (res.json() as ImmunizationRecommendation) : undefined;
  };
  const dtapDose = (r: ImmunizationRecommendation) =>
    r.recommendation.find((x) => x.vaccineCode?.[0]?.text === 'DTaP/Tdap/Td')?.doseNumberPositiveInt;
  /** Waits for the stored recommendation to reach a version, bounded. */
  const version = (v: string) =>
    eventually(async () => {
      const r = await stored();
      return r?.meta?.versionId === v ? r : undefined;
    }, `ImmunizationRecommendation version ${v}`);
  const record = async (id: string, date: string) => {
    const { id: _id, ...body } = immunizationResource(id, 'sub1', '20', date);
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: { ...FHIR_JSON, ...bearer(nurse) },
      payload: JSON.stringify(body),
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { id: string }).id;
  };

  let first = '';
  let second = '';

  test("recording a dose through the FHIR API stores the patient's recommendation", async () => {
    first = await record('d1', '2025-03-12');
    const r = await version('1');
    assert.equal(r.id, 'immrec-sub1');
    assert.equal(r.patient.reference, 'Patient/sub1');
    assert.equal(r.date, new Date().toISOString().slice(0, 10));
    assert.equal(dtapDose(r), 2);
    assert.ok(JSON.stringify(r.recommendation).includes(`Immunization/${first}`));
    // Stored without validating it again: what the forecast builds must pass the validator.
    assert.deepEqual(validationIssues(r, { requireCvx: true }), []);
  });

  test('a second dose changes it', async () => {
    second = await record('d2', '2025-05-14');
    const r = await version('2');
    assert.equal(dtapDose(r), 3);
  });

  test('deleting the dose refreshes it again', async () => {
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/fhir/Immunization/${second}`,
      headers: bearer(nurse),
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 204, res.body);
    const r = await version('3');
    assert.equal(dtapDose(r), 2);
    assert.ok(!JSON.stringify(r.recommendation).includes(`Immunization/${second}`));
  });

  test('replaying the same event stores no new version', async () => {
    const { ctx } = t.runtime;
    const scheduled = await ctx.events.replay({
      subscriber: RECOMMENDATION_SUBSCRIBER,
      aggregate: { type: 'Immunization', id: first },
    });
    assert.equal(scheduled, 1);
    await eventually(async () => {
      const r = await ctx.db.query<{ status: string }>(
        `SELECT d.status FROM iris_event_deliveries d JOIN iris_events e ON e.id = d.event_id
          WHERE d.subscriber = $1 AND e.aggregate_id = $2`,
        [RECOMMENDATION_SUBSCRIBER, first],
      );
      return r.rows.length === 1 && r.rows[0]?.status === 'done' ? true : undefined;
    }, 'the replayed delivery');
    const r = await stored();
    assert.equal(r?.meta?.versionId, '3');
    const history = await t.app.inject({ url: `${recommendationUrl}/_history`, headers: bearer(nurse) });
    assert.equal((history.json() as Bundle).total ?? (history.json() as Bundle).entry?.length, 3);
  });
});
