import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SYSTEM_CONTEXT } from '../../../src/modules/fhir/index.js';
import { updateResource } from '../../../src/modules/fhir/store/write.js';
import { IrisError } from '../../../src/platform/http/errors.js';
import { EVERY_ROW, fhirHarness, type FhirHarness } from './harness.js';

const DIR = `${dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'))}/`;

describe('validation of broken variants of an official example', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness({ requireCvx: false });
  });
  after(() => h.close());

  test('the example itself is accepted', async () => {
    const example = JSON.parse(readFileSync(`${DIR}Immunization-example.json`, 'utf8')) as { id: string };
    const r = await h.db.transaction((tx) =>
      updateResource(h.rt, SYSTEM_CONTEXT, tx, example, 'Immunization', example.id),
    );
    assert.equal(r.versionId, '1');
  });

  const base = JSON.parse(readFileSync(`${DIR}Immunization-example.json`, 'utf8')) as Record<string, unknown>;
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['wrong type', { ...base, lotNumber: 12 }, 'Immunization.lotNumber'],
    ['missing required element', { ...base, vaccineCode: undefined }, 'Immunization.vaccineCode'],
    ['bad code', { ...base, status: 'finished' }, 'Immunization.status'],
    [
      'bad reference',
      { ...base, patient: { reference: 'Practitioner/example' } },
      'Immunization.patient.reference',
    ],
    [
      'bad nested code',
      {
        ...base,
        performer: [
          {
            actor: { reference: 'Practitioner/example' },
            function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'OP' }] },
          },
        ],
        status: 'completed',
        statusReason: undefined,
        doseQuantity: { value: 5, system: 'http://unitsofmeasure.org', code: 'mg', comparator: '~' },
      },
      'Immunization.doseQuantity.comparator',
    ],
  ];
  for (const [name, variant, path] of cases) {
    test(`${name} is rejected at ${path} and nothing is stored`, async () => {
      const id = `broken-${name.replace(/ /g, '-')}`;
      const body = { ...(JSON.parse(JSON.stringify(variant)) as object), id };
      await assert.rejects(
        h.db.transaction((tx) => updateResource(h.rt, SYSTEM_CONTEXT, tx, body, 'Immunization', id)),
        (error: unknown) => {
          assert.ok(error instanceof IrisError);
          assert.equal(error.statusCode, 422);
          assert.ok(
            error.details.some((d) => d.location === path),
            JSON.stringify(error.details),
          );
          return true;
        },
      );
      const stored = await h.db.query('SELECT 1 FROM fhir_resource WHERE id = $1', [id], EVERY_ROW);
      assert.equal(stored.rows.length, 0);
    });
  }
});
