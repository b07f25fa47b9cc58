import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_CDSI_DIR,
  SupportingDataError,
  getSupportingData,
  loadSupportingData,
  observationCodesFor,
} from '../../../../src/modules/immunization/cdsi/index.js';

const DIPHTHERIA = 'AntigenSupportingData- Diphtheria-508.xml';
const scratch: string[] = [];

/** A copy of the shipped data with one file rewritten, to exercise validation. */
function corruptedCopy(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdsi-data-'));
  scratch.push(dir);
  cpSync(DEFAULT_CDSI_DIR, dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
  return dir;
}

after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('CDSi supporting data loader', () => {
  test('loads every antigen, vaccine group and CVX mapping from reference-data', () => {
    const data = getSupportingData();
    assert.equal(data.version, '4.64');
    assert.ok(data.antigens.size >= 20);
    const dtap = data.vaccineGroups.find((g) => g.name === 'DTaP/Tdap/Td');
    assert.deepEqual(dtap?.antigens, ['Diphtheria', 'Pertussis', 'Tetanus']);
    assert.equal(dtap?.administerFullVaccineGroup, false);
    assert.equal(data.vaccineGroups.find((g) => g.name === 'MMR')?.administerFullVaccineGroup, true);
    assert.deepEqual(
      data.cvxToAntigens.get('03')?.map((a) => a.antigen),
      ['Measles', 'Mumps', 'Rubella'],
    );
    assert.ok(data.liveVirusConflicts.some((c) => c.previousCvx === '03' && c.currentCvx === '21'));
    assert.equal(data.cvxDescriptions.get('20'), 'DTaP');
  });

  test('types series doses, including durations, skips and recurring doses', () => {
    const diphtheria = getSupportingData().antigens.get('Diphtheria');
    const standard = diphtheria?.series.find((s) => s.name === 'Diphtheria standard series');
    assert.ok(standard);
    assert.equal(standard.defaultSeries, true);
    assert.equal(standard.maxAgeToStart?.text, '12 months - 4 days');
    const first = standard.doses[0];
    assert.equal(first?.doseNumber, 1);
    assert.equal(first?.ages[0]?.absMinAge?.text, '6 weeks - 4 days');
    assert.ok(first?.preferableVaccines.some((v) => v.cvx === '20'));
    assert.ok(first?.inadvertentCvx.has('115'));
    assert.ok(first?.conditionalSkips.some((s) => s.context === 'Forecast'));
    assert.equal(standard.doses[standard.doses.length - 1]?.recurring, true);
  });

  test('maps clinical codes to CDSi observation codes', () => {
    assert.deepEqual(
      observationCodesFor([
        { system: 'http://snomed.info/sct', code: '370388006' },
        { system: 'CDCPHINVS', code: 'VXC27' },
        { system: 'http://loinc.org', code: '1234-5' },
        { code: '370388006' },
      ]),
      ['003'],
    );
  });

  test('is loaded once and cached', () => {
    assert.equal(getSupportingData(), getSupportingData());
  });

  test('names the file and element of an unreadable duration', () => {
    const dir = corruptedCopy(DIPHTHERIA, (t) =>
      t.replace('<minAge>6 weeks</minAge>', '<minAge>six weeks</minAge>'),
    );
    assert.throws(
      () => loadSupportingData(dir),
      (err: unknown) =>
        err instanceof SupportingDataError &&
        err.message.includes(DIPHTHERIA) &&
        /seriesDose\[1\]\/age\[1\]\/minAge/.test(err.message) &&
        err.message.includes('six weeks'),
    );
  });

  test('names the file of a missing required element and of broken XML', () => {
    const noCvx = corruptedCopy(DIPHTHERIA, (t) => t.replace('<cvx>20</cvx>', '<cvx></cvx>'));
    assert.throws(
      () => loadSupportingData(noCvx),
      (err: unknown) => {
        return (
          err instanceof SupportingDataError &&
          err.message.includes(DIPHTHERIA) &&
          err.message.includes('cvx')
        );
      },
    );
    const broken = corruptedCopy('ScheduleSupportingData.xml', (t) => t.replace('<vaccineGroups>', ''));
    assert.throws(() => loadSupportingData(broken), /ScheduleSupportingData\.xml/);
  });

  test('rejects an unknown condition type', () => {
    const dir = corruptedCopy(DIPHTHERIA, (t) =>
      t.replace('<conditionType>Age</conditionType>', '<conditionType>Moon phase</conditionType>'),
    );
    assert.throws(() => loadSupportingData(dir), /conditionType.*Moon phase/);
  });
});
