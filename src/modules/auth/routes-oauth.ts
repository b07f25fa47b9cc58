import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestMeta } from './guards.js';
import { OAuthError } from './oauth.js';
import { noStore } from './http-schemas.js';
import type { AuthService } from './service.js';

function basicCredentials(request: FastifyRequest): { id?: string; secret?: string } {
  const header = request.headers.authorization;
  if (!header?.startsWith('Basic ')) return {};
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return {};
  // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
  const unescape = (v: string) => {
    try {
      return decodeURIComponent(v.replace(/\+/g, ' '));
    } catch {
      return v;
    }
  };
  return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
}

/** `POST /oauth2/token`: client credentials for machine clients (RFC 6749 errors). */
export function registerTokenEndpoint(app: FastifyInstance, auth: AuthService): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    },
  );

  app.post<{ Body: { grant_type?: string; scope?: string; client_id?: string; client_secret?: string } }>(
    '/oauth2/token',
    {
      config: { rateLimit: { max: 60, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'OAuth2 client credentials grant for machine clients (SMART system scopes)',
        description:
          'Form-encoded. Client authentication by HTTP Basic or client_id/client_secret in the body. ' +
          'Errors follow RFC 6749 section 5.2 ({ error, error_description }).',
        consumes: ['application/x-www-form-urlencoded'],
        body: {
          type: 'object',
          properties: {
            grant_type: { type: 'string' },
            scope: { type: 'string', maxLength: 2048 },
            client_id: { type: 'string', maxLength: 128 },
            client_secret: { type: 'string', maxLength: 256 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              access_token: { type: 'string' },
              token_type: { type: 'string' },
              expires_in: { type: 'integer' },
              scope: { type: 'string' },
            },
          },
          '4xx': {
            type: 'object',
            properties: { error: { type: 'string' }, error_description: { type: 'string' } },
            additionalProperties: true,
          },
        },
      },
    },
    async (request, reply) => {
      noStore(reply);
      const basic = basicCredentials(request);
      try {
        return await auth.clients.token(
          {
            grantType: request.body?.grant_type,
            clientId: basic.id ?? request.body?.client_id,
            clientSecret: basic.secret ?? request.body?.client_secret,
            scope: request.body?.scope,
          },
          requestMeta(request),
        );
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        if (error.status === 401) reply.header('www-authenticate', 'Basic realm="iris"');
        return reply.code(error.status).send({ error: error.error, error_description: error.description });
      }
    },
  );
}
