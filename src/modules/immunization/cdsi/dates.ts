/**
 * Calendar arithmetic as the CDSi Logic Specification defines it. Dates are whole days counted
 * from 1970-01-01 (a plain number), which keeps comparisons cheap and avoids time zones.
 */

/** Days since 1970-01-01. */
export type DayNumber = number;

export type DurationUnit = 'year' | 'month' | 'week' | 'day';

export interface DurationTerm {
  amount: number;
  unit: DurationUnit;
}

/** A CDSi duration such as "6 months - 4 days": terms applied in the order written. */
export interface Duration {
  text: string;
  terms: DurationTerm[];
}

/** CDSi defaults when an age or date is not given. */
export const MIN_DATE: DayNumber = fromYmd(1900, 1, 1);
export const MAX_DATE: DayNumber = fromYmd(2999, 12, 31);

// Howard Hinnant's days-from-civil algorithm: exact for the proleptic Gregorian calendar.
export function fromYmd(year: number, month: number, day: number): DayNumber {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function toYmd(date: DayNumber): { year: number; month: number; day: number } {
  const z = date + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Moves a date by whole months. When the day does not exist in the target month (e.g. 31 April or
 * 29 February in a common year) the CDSi rule moves it to the first day of the following month.
 */
function addMonths(date: DayNumber, months: number): DayNumber {
  const { year, month, day } = toYmd(date);
  const index = year * 12 + (month - 1) + months;
  const newYear = Math.floor(index / 12);
  const newMonth = index - newYear * 12 + 1;
  if (day > daysInMonth(newYear, newMonth)) {
    return newMonth === 12 ? fromYmd(newYear + 1, 1, 1) : fromYmd(newYear, newMonth + 1, 1);
  }
  return fromYmd(newYear, newMonth, day);
}

export function addDuration(date: DayNumber, duration: Duration): DayNumber {
  let result = date;
  for (const term of duration.terms) {
    switch (term.unit) {
      case 'year':
        result = addMonths(result, term.amount * 12);
        break;
      case 'month':
        result = addMonths(result, term.amount);
        break;
      case 'week':
        result += term.amount * 7;
        break;
      case 'day':
        result += term.amount;
        break;
    }
  }
  return result;
}

export function addDays(date: DayNumber, days: number): DayNumber {
  return date + days;
}

const UNIT_PATTERN = /^(years?|months?|weeks?|days?)$/i;

/**
 * Parses a CDSi duration ("6 weeks - 4 days", "13 years + 4 weeks", "0 days"). Returns undefined for
 * empty text and throws on anything it cannot read, so bad supporting data fails loudly at load time.
 */
export function parseDuration(text: string | undefined): Duration | undefined {
  const trimmed = (text ?? '').trim();
  if (trimmed === '') return undefined;
  const tokens = trimmed
    .replace(/([+-])/g, ' $1 ')
    .split(/\s+/)
    .filter(Boolean);
  const terms: DurationTerm[] = [];
  let sign = 1;
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i] as string;
    if (token === '+' || token === '-') {
      sign = token === '-' ? -1 : 1;
      i += 1;
      continue;
    }
    const amount = Number(token);
    const unitToken = tokens[i + 1];
    if (!Number.isInteger(amount) || unitToken === undefined || !UNIT_PATTERN.test(unitToken)) {
      throw new Error(`invalid duration "${text}"`);
    }
    const unit = unitToken.toLowerCase().replace(/s$/, '') as DurationUnit;
    terms.push({ amount: sign * amount, unit });
    sign = 1;
    i += 2;
  }
  if (terms.length === 0) throw new Error(`invalid duration "${text}"`);
  return { text: trimmed, terms };
}

/** Parses YYYY-MM-DD (ISO) or YYYYMMDD (supporting data); throws on an impossible date. */
export function parseDate(text: string): DayNumber {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text.trim());
  if (!m) throw new Error(`invalid date "${text}"`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new Error(`invalid date "${text}"`);
  }
  return fromYmd(year, month, day);
}

export function formatDate(date: DayNumber): string {
  const { year, month, day } = toYmd(date);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

export function maxDate(a: DayNumber | undefined, b: DayNumber | undefined): DayNumber | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

export function minDate(a: DayNumber | undefined, b: DayNumber | undefined): DayNumber | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}
