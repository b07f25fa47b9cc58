import type { AuditTrail } from '../../platform/audit/port.js';
import type { AppContext } from '../../platform/context.js';
import type { EventPublisher } from '../../platform/events/port.js';
import { AuthAdmin } from './admin.js';
import type { Authenticator } from './guards.js';
import { LogMailer, OutboxMailer, type MailPort } from './mail.js';
import { authOptions, type AuthOptions } from './options.js';
import { AuthService } from './service.js';

/** The platform context as the identity module needs it: it builds `access` itself. */
export type AuthContext = Omit<AppContext, 'access' | 'events' | 'audit'> & {
  events?: EventPublisher;
  audit?: AuditTrail;
};

export interface Auth {
  service: AuthService;
  admin: AuthAdmin;
  /** AccessGuards for other modules' routes, and the onRequest authentication hook. */
  guards: Authenticator;
}

export interface AuthOverrides {
  events?: EventPublisher;
  audit?: AuditTrail;
  mail?: MailPort;
  options?: Partial<AuthOptions>;
}

/** Builds the identity module's services over a context (tests pass doubles for the ports). */
export function createAuth(ctx: AuthContext, overrides: AuthOverrides = {}): Auth {
  const events = overrides.events ?? ctx.events;
  const audit = overrides.audit ?? ctx.audit;
  if (!events || !audit)
    throw new Error('the auth module needs the event bus and the audit trail in its context');
  const options = authOptions(ctx.config, overrides.options);
  const mail =
    overrides.mail ??
    (ctx.config.env === 'production' ? new OutboxMailer(ctx.db) : new LogMailer(ctx.logger));
  const service = new AuthService({
    db: ctx.db,
    cache: ctx.cache,
    keyring: ctx.keyring,
    logger: ctx.logger,
    events,
    audit,
    mail,
    options,
  });
  return { service, admin: new AuthAdmin(service), guards: service.guards };
}

const perContext = new WeakMap<AuthContext, Auth>();

/** The one Auth instance of a context, so every module shares its guards and caches. */
export function authFor(ctx: AuthContext): Auth {
  let auth = perContext.get(ctx);
  if (!auth) {
    auth = createAuth(ctx);
    perContext.set(ctx, auth);
  }
  return auth;
}

/** What other modules use to protect their routes: `accessGuards(ctx).require('immunization:read')`. */
export function accessGuards(ctx: AuthContext): Authenticator {
  return authFor(ctx).guards;
}

/**
 * Development first start: creates a system administrator when there is no account and prints
 * its one-time password once (to stdout, never to the log). Production never creates accounts.
 */
export async function bootstrapFirstAdmin(auth: Auth, write: (text: string) => void): Promise<boolean> {
  const { options } = auth.service.deps;
  if (!options.bootstrapAdmin) return false;
  const created = await auth.admin.bootstrapFirstAdmin(options.bootstrapAdminEmail);
  if (!created) return false;
  write(
    `\nFirst administrator created: ${created.email}\n` +
      `One-time password (shown only now; change it at first sign-in): ${created.password}\n\n`,
  );
  return true;
}
