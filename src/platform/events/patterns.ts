/**
 * Event type patterns: dotted names where `*` stands for one segment and `**` for one or more
 * segments (`immunization.*`, `audit.**`, `**`). The same pattern compiles to a JavaScript
 * RegExp (in-process matching) and to a PostgreSQL regular expression (the sweeper's backfill
 * and replay filter in SQL).
 */
const SEGMENT = /^[A-Za-z0-9_-]+$/;

export class PatternError extends Error {
  override readonly name = 'PatternError';
}

function segmentSource(segment: string, pattern: string): string {
  if (segment === '*') return '[^.]+';
  if (segment === '**') return '.+';
  if (!SEGMENT.test(segment)) {
    throw new PatternError(`event pattern "${pattern}" has an invalid segment "${segment}"`);
  }
  return segment;
}

/** The regular expression body (no anchors) for one pattern; valid in JavaScript and PostgreSQL. */
export function patternSource(pattern: string): string {
  if (pattern.length === 0) throw new PatternError('an event pattern must not be empty');
  return pattern
    .split('.')
    .map((s) => segmentSource(s, pattern))
    .join('\\.');
}

/** One anchored expression matching any of `patterns`. */
export function patternsRegex(patterns: readonly string[]): string {
  if (patterns.length === 0) throw new PatternError('a subscriber needs at least one event pattern');
  return `^(?:${patterns.map(patternSource).join('|')})$`;
}

export function compilePatterns(patterns: readonly string[]): (type: string) => boolean {
  const regex = new RegExp(patternsRegex(patterns));
  return (type) => regex.test(type);
}

const EVENT_TYPE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** Event types are concrete dotted names: no wildcards. */
export function isValidEventType(type: string): boolean {
  return type.length <= 200 && EVENT_TYPE.test(type);
}
