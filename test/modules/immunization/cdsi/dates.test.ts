import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDuration,
  formatDate,
  fromYmd,
  parseDate,
  parseDuration,
  toYmd,
} from '../../../../src/modules/immunization/cdsi/dates.js';

function add(date: string, duration: string): string {
  const parsed = parseDuration(duration);
  assert.ok(parsed);
  return formatDate(addDuration(parseDate(date), parsed));
}

describe('CDSi date arithmetic', () => {
  test('parses durations as ordered signed terms', () => {
    assert.deepEqual(parseDuration('6 months - 4 days')?.terms, [
      { amount: 6, unit: 'month' },
      { amount: -4, unit: 'day' },
    ]);
    assert.deepEqual(parseDuration('13 years + 4 weeks')?.terms, [
      { amount: 13, unit: 'year' },
      { amount: 4, unit: 'week' },
    ]);
    assert.deepEqual(parseDuration('1 year')?.terms, [{ amount: 1, unit: 'year' }]);
    assert.equal(parseDuration(''), undefined);
    assert.equal(parseDuration(undefined), undefined);
  });

  test('rejects durations it cannot read', () => {
    assert.throws(() => parseDuration('six weeks'), /invalid duration/);
    assert.throws(() => parseDuration('6 fortnights'), /invalid duration/);
    assert.throws(() => parseDuration('6'), /invalid duration/);
  });

  test('adds days and weeks across month and year ends', () => {
    assert.equal(add('2025-12-31', '1 day'), '2026-01-01');
    assert.equal(add('2025-11-10', '6 weeks'), '2025-12-22');
    assert.equal(add('2025-03-01', '0 days - 4 days'), '2025-02-25');
    assert.equal(add('2024-03-01', '0 days - 1 day'), '2024-02-29');
  });

  test('moves a day missing from the target month to the first of the next month', () => {
    assert.equal(add('2025-01-31', '1 month'), '2025-03-01');
    assert.equal(add('2024-01-31', '1 month'), '2024-03-01');
    assert.equal(add('2025-08-31', '1 month'), '2025-10-01');
    assert.equal(add('2025-11-30', '1 month'), '2025-12-30');
    assert.equal(add('2025-12-31', '2 months'), '2026-03-01');
  });

  test('applies the month-end rule before subtracting days ("6 months - 4 days")', () => {
    assert.equal(add('2000-08-31', '6 months'), '2001-03-01');
    assert.equal(add('2000-08-31', '6 months - 4 days'), '2001-02-25');
    assert.equal(add('2025-11-10', '3 months + 4 weeks'), '2026-03-10');
  });

  test('handles leap days when adding years', () => {
    assert.equal(add('2000-02-29', '1 year'), '2001-03-01');
    assert.equal(add('2000-02-29', '4 years'), '2004-02-29');
    assert.equal(add('1900-02-28', '100 years'), '2000-02-28');
    assert.equal(add('2016-02-29', '18 years - 4 days'), '2034-02-25');
  });

  test('handles negative month and year terms', () => {
    assert.equal(add('2025-03-31', '0 days - 1 month'), '2025-03-01');
    assert.equal(add('2025-05-15', '0 days - 1 year'), '2024-05-15');
  });

  test('day numbers round-trip through the calendar', () => {
    for (let d = fromYmd(1899, 12, 25); d < fromYmd(2101, 1, 10); d += 37) {
      const { year, month, day } = toYmd(d);
      assert.equal(fromYmd(year, month, day), d);
    }
    assert.equal(fromYmd(1970, 1, 1), 0);
    assert.equal(formatDate(fromYmd(2024, 2, 29)), '2024-02-29');
  });

  test('parses ISO and compact dates and rejects impossible ones', () => {
    assert.equal(parseDate('20250827'), parseDate('2025-08-27'));
    assert.throws(() => parseDate('2025-02-29'), /invalid date/);
    assert.throws(() => parseDate('2025-13-01'), /invalid date/);
    assert.throws(() => parseDate('11/10/2025'), /invalid date/);
  });
});
