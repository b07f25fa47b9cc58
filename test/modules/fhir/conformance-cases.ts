import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { SYSTEM_CONTEXT } from '../../../src/modules/fhir/index.js';
import { readResource } from '../../../src/modules/fhir/store/read.js';
import { updateResource } from '../../../src/modules/fhir/store/write.js';
import { IrisError } from '../../../src/platform/http/errors.js';
import { fhirHarness, type FhirHarness } from './harness.js';

const DIR = `${dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'))}/`;

/**
 * The official examples the validator rejects, each for a defect of the example itself (the
 * location named is where the defect is).
 */
export const REJECTED: Record<string, string> = {
  'Binary-example.json':
    'Binary.data: base64 interrupted by spaces (RFC 4648 §3.3 forbids non-alphabet characters)',
  'DiagnosticReport-gingival-mass.json': 'presentedForm.data: base64 interrupted by spaces',
  'Media-example.json': 'content.data: base64 interrupted by spaces',
  'Bundle-dataelements.json': 'bdl-7: the same fullUrl appears on several entries',
  'Bundle-v2-valuesets.json': 'v2-0550 concepts with codes that have leading/trailing or only whitespace',
  'CodeSystem-v2-0550.json': 'concept codes with leading/trailing or only whitespace',
  'CodeSystem-dicom-dcim.json': 'text.div is larger than the 1 MB limit on FHIR strings',
  'ValueSet-c80-doc-typecodes.json': 'text.div is larger than the 1 MB limit on FHIR strings',
  'ImplementationGuide-fhir.json': 'name and status (1..1) are missing',
  'ig-r4.json': 'name and status (1..1) are missing',
  'Questionnaire-qs1.json': 'item.linkId (1..1) is missing',
  'DeviceMetric-example.json': 'parent references a DeviceDefinition; R4 allows Device only',
  'DeviceUseStatement-example.json': 'reasonReference points at a Procedure, which R4 does not allow',
  'MedicationRequest-medrx0301.json':
    'dispenseRequest.performer references a Practitioner; R4 allows Organization only',
  'Observation-clinical-gender.json': 'performer references an Encounter, which R4 does not allow',
  'OrganizationAffiliation-orgrole1.json': 'network references "Network", which is not an R4 resource type',
  'SearchParameter-codesystem-extensions-CodeSystem-author.json': 'base (1..*) is missing',
  'SearchParameter-codesystem-extensions-CodeSystem-effective.json': 'base (1..*) is missing',
  'SearchParameter-codesystem-extensions-CodeSystem-end.json': 'base (1..*) is missing',
  'SearchParameter-codesystem-extensions-CodeSystem-keyword.json': 'base (1..*) is missing',
  'SearchParameter-codesystem-extensions-CodeSystem-workflow.json': 'base (1..*) is missing',
  'SearchParameter-valueset-extensions-ValueSet-author.json': 'base (1..*) is missing',
  'SearchParameter-valueset-extensions-ValueSet-effective.json': 'base (1..*) is missing',
  'SearchParameter-valueset-extensions-ValueSet-end.json': 'base (1..*) is missing',
  'SearchParameter-valueset-extensions-ValueSet-keyword.json': 'base (1..*) is missing',
  'SearchParameter-valueset-extensions-ValueSet-workflow.json': 'base (1..*) is missing',
  'SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json':
    'id is longer than the 64 characters R4 allows',
  'StructureDefinition-Definition.json': 'sdf-4: not abstract, yet no baseDefinition',
  'StructureDefinition-Event.json': 'sdf-4: not abstract, yet no baseDefinition',
  'StructureDefinition-FiveWs.json': 'sdf-4: not abstract, yet no baseDefinition',
  'StructureDefinition-Request.json': 'sdf-4: not abstract, yet no baseDefinition',
};

const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
  .sort();

/**
 * Storing an example costs about a fixed 10 ms plus 0.3 ms per KB (validation dominates), so the
 * estimate is its size plus 32 KB. Each example goes, largest first, to the part with the least
 * estimated work: every part takes about as long, and each example is in exactly one part.
 */
function partition(parts: number): string[][] {
  const load = new Array<number>(parts).fill(0);
  const out = Array.from({ length: parts }, (): string[] => []);
  const cost = new Map(FILES.map((f) => [f, statSync(DIR + f).size + 32 * 1024]));
  const order = [...FILES].sort((a, b) => (cost.get(b) ?? 0) - (cost.get(a) ?? 0) || a.localeCompare(b));
  for (const file of order) {
    const lightest = load.indexOf(Math.min(...load));
    load[lightest] = (load[lightest] ?? 0) + (cost.get(file) ?? 0);
    out[lightest]?.push(file);
  }
  return out.map((files) => files.sort());
}

/** The test files that call {@link conformancePart}, `conformance-01.test.ts` onwards. */
function partFiles(): string[] {
  return readdirSync(dirname(fileURLToPath(import.meta.url)))
    .filter((f) => /^conformance-\d+\.test\.ts$/.test(f))
    .sort();
}

/**
 * One of several test files over the examples (each file is one process: the definitions, the
 * database and the warmed-up validator are set up once per file, so few large files are
 * cheapest; each must still finish within the runner's per-file timeout): every example is
 * stored through the normal write path and read back.
 */
export function conformancePart(part: number, parts: number): void {
  const all = partition(parts);
  const files = all[part - 1] ?? [];
  describe(`conformance: official R4 examples, part ${part}/${parts}`, () => {
    let h: FhirHarness;
    const rejected = new Map<string, string>();
    before(async () => {
      // The CVX rule is an IRIS business rule, not R4: the examples use other vaccine codings.
      h = await fhirHarness({ requireCvx: false });
    });
    after(() => h.close());

    test(`${files.length} examples are stored and read back equal apart from meta`, async () => {
      for (const file of files) {
        const example = JSON.parse(readFileSync(DIR + file, 'utf8')) as {
          resourceType: string;
          id: string;
          meta?: unknown;
        };
        try {
          await h.db.transaction((tx) =>
            updateResource(h.rt, SYSTEM_CONTEXT, tx, example, example.resourceType, example.id),
          );
        } catch (error) {
          if (!(error instanceof IrisError) || error.statusCode !== 422) throw error;
          rejected.set(file, error.details.map((d) => `${d.location}: ${d.message}`).join('; '));
          continue;
        }
        const back = (await readResource(h.rt, SYSTEM_CONTEXT, example.resourceType, example.id))
          .resource as unknown as Record<string, unknown>;
        const { meta: _storedMeta, ...stored } = back;
        const { meta: _givenMeta, ...given } = example;
        assert.ok(isDeepStrictEqual(stored, given), `${file} did not read back equal`);
      }
    });

    test('the parts together hold every example once, one test file per part', () => {
      assert.ok(FILES.length > 5000);
      assert.deepEqual(all.flat().sort(), FILES);
      assert.deepEqual(
        partFiles(),
        all.map((_, i) => `conformance-${String(i + 1).padStart(2, '0')}.test.ts`),
      );
    });

    test('exactly the listed examples of this part are rejected', () => {
      const expected = Object.keys(REJECTED)
        .filter((f) => files.includes(f))
        .sort();
      assert.deepEqual(
        [...rejected.keys()].sort(),
        expected,
        JSON.stringify(Object.fromEntries(rejected), null, 1),
      );
    });
  });
}
