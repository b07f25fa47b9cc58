import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validationIssues } from '../../../src/modules/fhir/validation.js';
import { registryProvenance } from '../../../src/modules/registry/provenance.js';
import type { SubmissionRow, SubmissionStatus } from '../../../src/modules/registry/submissions.js';

const row = {
  id: '0f8d3c62-8d7e-4ad1-9d1b-2b7c3a5e6f70',
  immunization_id: 'imm-1',
  immunization_version: 3,
  patient_id: 'pat-1',
  operation: 'submit',
  control_id: 'AbCdEfGhIjKlMnOpQrSt',
} as SubmissionRow;

// The dispatcher stores these Provenances without validating each one (`trusted`): every shape
// the template can take must be valid FHIR R4.
test('registry Provenance is valid FHIR for every outcome, operation and issue list', () => {
  const statuses: SubmissionStatus[] = ['accepted', 'accepted_with_warnings', 'rejected', 'failed'];
  for (const status of statuses) {
    for (const operation of ['submit', 'delete'] as const) {
      for (const patient of ['pat-1', null]) {
        const provenance = registryProvenance(
          { id: 'e1', name: 'State IIS' },
          { ...row, operation, patient_id: patient },
          status,
          status === 'failed' ? null : 'AE',
          [{ severity: 'E', code: '101', location: 'RXA^1^5', message: 'Required field missing | <&>' }],
          new Date('2026-11-26T12:00:00Z'),
        );
        assert.deepEqual(validationIssues(provenance, { requireCvx: true }), [], `${status} ${operation}`);
        const targets = provenance.target.map((t) => t.reference);
        assert.equal(targets[0], 'Immunization/imm-1/_history/3');
        assert.equal(targets.includes('Patient/pat-1'), patient !== null);
        const parts = provenance.extension?.[0]?.extension ?? [];
        assert.equal(parts.find((p) => p.url === 'status')?.valueCode, status);
      }
    }
  }
});
