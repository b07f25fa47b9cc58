/**
 * SQLSTATE raised by the database itself to refuse a statement for lack of access (for example
 * a write whose organization check is made inside its deferred statement): answered as 403.
 */
export const ACCESS_REFUSED_SQLSTATE = 'IR403';

/** Whether `error` is the database refusing access, with the reason as its message. */
export function isAccessRefused(error: unknown): error is Error & { code: string } {
  return error instanceof Error && (error as { code?: unknown }).code === ACCESS_REFUSED_SQLSTATE;
}
