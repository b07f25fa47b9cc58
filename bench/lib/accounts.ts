import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ServerHandle } from './server.js';

export const FHIR_JSON = 'application/fhir+json';
/** Tokens live at most 15 minutes; a fresh one is taken well before that. */
const TOKEN_REFRESH_MS = 10 * 60_000;

/** Accounts and access tokens made with the `iris` CLI against a bench server's database. */
export class Accounts {
  private readonly tokens = new Map<string, { token: string; at: number }>();
  constructor(
    private readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Runs `iris <args>` against the server's database and returns its standard output. */
  iris(args: string[], input?: string): string {
    const run = spawnSync(process.execPath, [join(this.root, 'dist', 'iris.js'), ...args], {
      env: this.env,
      encoding: 'utf8',
      timeout: 60_000,
      ...(input === undefined ? {} : { input }),
    });
    if (run.status !== 0) throw new Error(`iris ${args[0]}: exit ${run.status}: ${run.stderr.slice(-1000)}`);
    return run.stdout;
  }

  create(email: string, role: string, organization?: string): string {
    // A password of our own: a generated one must be changed before the account may do anything.
    this.iris(
      [
        'user',
        'create',
        '--password-stdin',
        '--email',
        email,
        '--role',
        role,
        ...(organization ? ['--organization', organization] : []),
      ],
      `${randomBytes(18).toString('base64url')}\n`,
    );
    return email;
  }

  token(email: string): string {
    const cached = this.tokens.get(email);
    if (cached && performance.now() - cached.at < TOKEN_REFRESH_MS) return cached.token;
    const token = this.iris(['token', '--email', email]).trim();
    this.tokens.set(email, { token, at: performance.now() });
    return token;
  }
}

export async function call(
  server: ServerHandle,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      accept: FHIR_JSON,
      ...(body === undefined ? {} : { 'content-type': FHIR_JSON }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return { status: res.status, json };
}

/** Stores Organization/`id`, named after itself: the organization a bench nurse belongs to. */
export async function putOrganization(server: ServerHandle, token: string, id: string): Promise<void> {
  await call(server, token, 'PUT', `/fhir/Organization/${id}`, {
    resourceType: 'Organization',
    id,
    name: id,
  });
}
