/**
 * Both drivers must hand the same JavaScript values to the application. node-postgres returns
 * int8 and numeric as strings and PGlite returns them as numbers; we settle on numbers for
 * int8 inside the safe range (counts, sequence numbers) and strings for numeric (exact decimals).
 */
export const INT8_OID = 20;
export const NUMERIC_OID = 1700;

export function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} is outside the safe integer range`);
  return n;
}

export function parseNumeric(value: string): string {
  return value;
}
