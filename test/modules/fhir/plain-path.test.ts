import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, test } from 'node:test';
import { compilePlainPath } from '../../../src/modules/fhir/definitions/plain-path.js';
import {
  compileFhirPath,
  searchParameters,
  type TypedValue,
} from '../../../src/modules/fhir/definitions/search-parameters.js';

const DIR = `${dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'))}/`;

type Evaluate = (resource: object) => TypedValue[];

function both(expression: string): { fast: Evaluate; reference: Evaluate } {
  const fast = compilePlainPath(expression);
  assert.ok(fast, `${expression} is a plain path`);
  return { fast, reference: compileFhirPath(expression) };
}

describe('plain-path evaluation of search parameter expressions', () => {
  test('gives what fhirpath.js gives, for every plain parameter on every official example', () => {
    const registry = searchParameters();
    const compiled = new Map<string, { fast: Evaluate; reference: Evaluate }>();
    for (const type of registry.types()) {
      for (const param of registry.forType(type)) {
        const fast = param.type === 'composite' ? undefined : compilePlainPath(param.expression);
        if (fast)
          compiled.set(`${type}|${param.code}`, { fast, reference: compileFhirPath(param.expression) });
      }
    }
    // Most of the official parameters are plain paths; the rest stay with fhirpath.js.
    assert.ok(compiled.size > 2000, `${compiled.size} plain parameters`);
    let checks = 0;
    let nonEmpty = 0;
    for (const file of readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'package.json')) {
      const json = JSON.parse(readFileSync(`${DIR}${file}`, 'utf8')) as {
        resourceType?: string;
        entry?: Array<{ resource?: { resourceType?: string } }>;
      };
      const resources = [
        json,
        ...(json.resourceType === 'Bundle' ? (json.entry ?? []).map((e) => e.resource) : []),
      ];
      for (const resource of resources) {
        if (!resource?.resourceType) continue;
        for (const param of registry.forType(resource.resourceType)) {
          const pair = compiled.get(`${resource.resourceType}|${param.code}`);
          if (!pair) continue;
          const fast = pair.fast(resource);
          assert.deepStrictEqual(
            fast,
            pair.reference(resource),
            `${file}: ${param.code} (${param.expression})`,
          );
          checks += 1;
          if (fast.length > 0) nonEmpty += 1;
        }
      }
    }
    assert.ok(checks > 300_000 && nonEmpty > 30_000, `${checks} checks, ${nonEmpty} with values`);
  });

  test('choice elements, primitives with extensions only, nulls in arrays and filters agree too', () => {
    const patient = {
      resourceType: 'Patient',
      _birthDate: { extension: [{ url: 'http://example.org/unknown', valueCode: 'asked-unknown' }] },
      name: [{ family: 'Ng', given: ['Ana', null, 'Li'], _given: [null, { extension: [] }, null] }, null],
      telecom: [
        { system: 'phone', value: '555-0100' },
        { system: 'email', value: 'ana@example.org' },
        { value: 'no-system' },
      ],
      generalPractitioner: [
        { reference: 'Practitioner/p1' },
        { reference: 'https://other.example/fhir/Organization/o1' },
        { display: 'no reference' },
      ],
      deceasedDateTime: '2020-01-01',
    };
    const immunization = {
      resourceType: 'Immunization',
      occurrenceString: 'last spring',
      patient: { reference: 'Patient/x' },
    };
    for (const expression of [
      'Patient.birthDate',
      'Patient.name.given',
      'Patient.name.family',
      "Patient.telecom.where(system='email')",
      "Patient.telecom.where(system='phone').value",
      "Patient.generalPractitioner.where(reference.startsWith('Organization/') or reference.contains('/Organization/'))",
      'Patient.deceased',
      'Resource.id',
      'Immunization.occurrence',
    ]) {
      const { fast, reference } = both(expression);
      for (const resource of [patient, immunization]) {
        assert.deepStrictEqual(
          fast(resource),
          reference(resource),
          `${expression} on ${resource.resourceType}`,
        );
      }
    }
  });

  test('only a resource of the path type is read', () => {
    const { fast } = both('Patient.name');
    assert.deepEqual(fast({ resourceType: 'Person', name: [{ family: 'X' }] }), []);
  });

  test('anything but a plain path is left to fhirpath.js', () => {
    for (const expression of [
      'Patient.name | Practitioner.name',
      '(Patient.deceased as dateTime)',
      'Patient.deceased.exists() and Patient.deceased != false',
      'Patient.name.family.length()',
      'Patient.nosuchelement',
      'Patient.birthDate.value',
      "Patient.telecom.where(value.startsWith('555'))",
      'NoSuchResource.id',
    ]) {
      assert.equal(compilePlainPath(expression), undefined, expression);
    }
  });
});
