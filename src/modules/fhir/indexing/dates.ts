/** The instants a FHIR date, dateTime or instant covers, given its precision. */
export interface DateRange {
  low: Date;
  /** The last millisecond inside the range. */
  high: Date;
  precision: 'year' | 'month' | 'day' | 'time';
}

const PARTIAL = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

export function parseDateRange(text: string): DateRange | null {
  const partial = PARTIAL.exec(text);
  if (partial) {
    const year = Number(partial[1]);
    if (partial[3] !== undefined) {
      const month = Number(partial[2]) - 1;
      const day = Number(partial[3]);
      const low = new Date(Date.UTC(year, month, day));
      if (low.getUTCMonth() !== month || low.getUTCDate() !== day) return null;
      return { low, high: new Date(Date.UTC(year, month, day + 1) - 1), precision: 'day' };
    }
    if (partial[2] !== undefined) {
      const month = Number(partial[2]) - 1;
      if (month < 0 || month > 11) return null;
      return {
        low: new Date(Date.UTC(year, month, 1)),
        high: new Date(Date.UTC(year, month + 1, 1) - 1),
        precision: 'month',
      };
    }
    return {
      low: new Date(Date.UTC(year, 0, 1)),
      high: new Date(Date.UTC(year + 1, 0, 1) - 1),
      precision: 'year',
    };
  }
  const dt = DATE_TIME.exec(text);
  if (!dt) return null;
  const withZone = dt[8] ? text : `${text}Z`;
  const at = new Date(withZone);
  if (Number.isNaN(at.getTime())) return null;
  // Seconds given without a fraction cover the whole second.
  const span = dt[6] === undefined ? 60_000 : dt[7] === undefined ? 1000 : 1;
  return { low: at, high: new Date(at.getTime() + span - 1), precision: 'time' };
}

/** Every calendar day (YYYY-MM-DD) from `from` to `to` inclusive, both UTC midnights. */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  for (let t = from.getTime(); t <= to.getTime(); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}
