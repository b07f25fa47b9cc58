/** JSON schemas every API module shares in its route definitions (and so in OpenAPI). */

/** RFC 7807 problem details, as `sendError` writes them. */
export const problemSchema = {
  type: 'object',
  description: 'RFC 7807 problem details (application/problem+json)',
  additionalProperties: true,
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: true,
        properties: { pointer: { type: 'string' }, detail: { type: 'string' } },
      },
    },
  },
} as const;

/** Response schemas for the given error statuses, e.g. `problemResponses(400, 404)`. */
export function problemResponses(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema]));
}
