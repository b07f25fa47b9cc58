import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importPath } from '../../../src/modules/fhir/import/files.js';
import { EVERY_ROW, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

const P1 = 'urn:uuid:4a0c5a53-54e2-4d1e-9a6e-1f4a2b3c4d01';

describe('import of Bundles and NDJSON', () => {
  let h: FhirHarness;
  let dir: string;
  before(async () => {
    h = await fhirHarness();
    dir = await mkdtemp(join(tmpdir(), 'iris-import-'));
    await writeFile(
      join(dir, 'synthea-like.json'),
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: P1, request: { method: 'POST', url: 'Patient' }, resource: patient('Imported', 'Ida') },
          {
            fullUrl: 'urn:uuid:4a0c5a53-54e2-4d1e-9a6e-1f4a2b3c4d02',
            request: { method: 'POST', url: 'Immunization' },
            resource: { ...immunization('x'), patient: { reference: P1 } },
          },
        ],
      }),
    );
    const lines = [
      { ...patient('Nd', 'Json'), id: 'nd-1' },
      { ...immunization('nd-1', '20'), id: 'nd-imm-1' },
      { resourceType: 'Patient', id: 'nd-bad', gender: 'robot' },
    ];
    await writeFile(join(dir, 'Patient.ndjson'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('stores everything valid, reports errors, and a second run creates no duplicates or versions', async () => {
    const progress: number[] = [];
    const first = await importPath(h.rt, dir, (done) => progress.push(done));
    assert.deepEqual(progress.slice(-1), [2]);
    // The NDJSON batch holding the invalid line fails as a whole (one transaction).
    assert.equal(first.resources, 2);
    assert.equal(first.errors.length, 1);
    assert.match(first.errors[0]?.message ?? '', /gender/);
    const pid = P1.slice('urn:uuid:'.length);
    const imm = await h.app.inject({ method: 'GET', url: `/fhir/Immunization?patient=Patient/${pid}` });
    assert.equal(imm.json().entry.length, 1);
    const second = await importPath(h.rt, dir, () => undefined);
    assert.equal(second.resources, 2);
    const counts = await h.db.query<{ n: number; v: number }>(
      'SELECT count(*)::int AS n, max(version)::int AS v FROM fhir_resource',
      [],
      EVERY_ROW,
    );
    assert.equal(counts.rows[0]?.n, 2);
    assert.equal(counts.rows[0]?.v, 1);
  });
});
