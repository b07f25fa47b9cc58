/**
 * Runs every CDC CDSi test case (test/fixtures/cdsi) through the engine with the case's own
 * assessment date. One test per vaccine group, failing when any case of the group fails.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getSupportingData, runForecast } from '../../../../src/modules/immunization/cdsi/index.js';
import { caseInput, compareCase, loadCdcCases } from './cdc-cases.js';
import type { CdcCase } from './cdc-cases.js';

const cases = loadCdcCases();
const data = getSupportingData();
const byGroup = new Map<string, CdcCase[]>();
for (const c of cases) {
  const list = byGroup.get(c.groupCode) ?? [];
  list.push(c);
  byGroup.set(c.groupCode, list);
}
const summary: Array<{ group: string; passed: number; total: number; rate: string }> = [];

describe('CDC CDSi test cases', () => {
  test('the case file is complete', () => {
    assert.ok(cases.length >= 500, `expected the full CDC case set, found ${cases.length}`);
  });

  for (const [group, list] of byGroup) {
    test(`vaccine group ${group} (${list.length} cases)`, () => {
      const failures: string[] = [];
      for (const c of list) {
        const diffs = compareCase(c, runForecast(caseInput(c, data), data));
        if (diffs.length > 0) failures.push(`${c.id} ${c.name}\n    ${diffs.join('\n    ')}`);
      }
      const passed = list.length - failures.length;
      summary.push({
        group,
        passed,
        total: list.length,
        rate: `${((100 * passed) / list.length).toFixed(1)}%`,
      });
      assert.equal(
        failures.length,
        0,
        `${failures.length} of ${list.length} ${group} cases fail:\n${failures.join('\n')}`,
      );
    });
  }

  after(() => {
    const passed = summary.reduce((n, s) => n + s.passed, 0);
    const total = summary.reduce((n, s) => n + s.total, 0);
    summary.push({
      group: 'ALL',
      passed,
      total,
      rate: `${((100 * passed) / Math.max(total, 1)).toFixed(1)}%`,
    });
    console.log('\nCDC CDSi pass rate per vaccine group');
    console.table(summary);
  });
});
