import { problemSchema } from '../../platform/http/schemas.js';

/** JSON schemas shared by the module's routes (OpenAPI through @fastify/swagger). */

const problem = problemSchema;

const problemContent = { 'application/problem+json': { schema: problem } };

/** The error answers a route may give, documented as problem+json. */
export function problems(...statuses: number[]) {
  const out: Record<string, { description: string; content: typeof problemContent }> = {};
  const text: Record<number, string> = {
    400: 'Bad request',
    401: 'Missing, invalid or expired access token',
    403: 'Not permitted',
    404: 'Not found',
    409: 'Conflict',
    422: 'Rejected by policy',
    429: 'Too many attempts',
  };
  for (const s of statuses) out[String(s)] = { description: text[s] ?? 'Error', content: problemContent };
  return out;
}

export const bearer = [{ bearerAuth: [] }];

export const uuidParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export const tokenSet = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['authenticated'] },
    accessToken: { type: 'string' },
    tokenType: { type: 'string' },
    expiresIn: { type: 'integer' },
    refreshToken: { type: 'string' },
    sessionId: { type: 'string' },
    requiredActions: { type: 'array', items: { type: 'string', enum: ['change_password', 'enroll_mfa'] } },
  },
} as const;

export const mfaChallenge = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['mfa_required'] },
    challengeToken: { type: 'string' },
    expiresIn: { type: 'integer' },
  },
} as const;

export const session = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    ip: { type: 'string', nullable: true },
    userAgent: { type: 'string', nullable: true },
    current: { type: 'boolean' },
  },
} as const;

export const user = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    email: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['active', 'locked', 'disabled'] },
    organizationId: { type: 'string', nullable: true },
    patientId: { type: 'string', nullable: true },
    mustChangePassword: { type: 'boolean' },
    lockedUntil: { type: 'string', format: 'date-time', nullable: true },
    lastLoginAt: { type: 'string', format: 'date-time', nullable: true },
    createdAt: { type: 'string', format: 'date-time' },
    roles: { type: 'array', items: { type: 'string' } },
    mfaEnrolled: { type: 'boolean' },
  },
} as const;

export const role = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    patientScope: { type: 'string', enum: ['all', 'organization', 'own', 'none'] },
    builtin: { type: 'boolean' },
    permissions: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const accessRule = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    subjectType: { type: 'string', enum: ['role', 'user'] },
    subject: { type: 'string' },
    kind: { type: 'string', enum: ['hours', 'network'] },
    timeZone: { type: 'string', nullable: true },
    days: { type: 'array', items: { type: 'integer' }, nullable: true },
    startMinute: { type: 'integer', nullable: true },
    endMinute: { type: 'integer', nullable: true },
    cidrs: { type: 'array', items: { type: 'string' }, nullable: true },
    description: { type: 'string' },
  },
} as const;

export const client = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    roles: { type: 'array', items: { type: 'string' } },
    patientScope: { type: 'string', enum: ['all', 'organization', 'none'] },
    organizationId: { type: 'string', nullable: true },
    status: { type: 'string', enum: ['active', 'disabled'] },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const password = { type: 'string', minLength: 1, maxLength: 1024 } as const;
export const totpCode = { type: 'string', pattern: '^[0-9]{6}$' } as const;

/** Sign-in answers carry secrets: never cached by browsers or proxies. */
export function noStore(reply: { header(name: string, value: string): unknown }) {
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
}
