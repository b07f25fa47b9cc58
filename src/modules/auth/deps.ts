import type { AuditRecord, AuditTrail } from '../../platform/audit/port.js';
import type { Cache } from '../../platform/cache/port.js';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database, Transaction } from '../../platform/db/types.js';
import type { Actor, EventPublisher } from '../../platform/events/port.js';
import type { Logger } from '../../platform/observability/logger.js';
import type { MailPort } from './mail.js';
import type { AuthOptions } from './options.js';

/** What the identity module's parts share. */
export interface AuthDeps {
  db: Database;
  cache: Cache;
  keyring: Keyring;
  logger: Logger;
  events: EventPublisher;
  audit: AuditTrail;
  mail: MailPort;
  options: AuthOptions;
}

/** Where a request came from, for sessions, lockouts, rules and the audit trail. */
export interface RequestMeta {
  ip: string;
  userAgent?: string;
  requestId?: string;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: 'iris' };

export function userActor(id: string): Actor {
  return { type: 'user', id };
}

/** Publishes one of the module's events in `tx`; payloads carry ids and codes, never secrets. */
export function publish(
  deps: AuthDeps,
  tx: Transaction,
  type: string,
  actor: Actor | null,
  aggregate: { type: string; id: string },
  payload: Record<string, unknown>,
  correlationId?: string,
) {
  return deps.events.publish(tx, { type, actor, aggregate, payload, correlationId: correlationId ?? null });
}

export function auditEntry(
  meta: RequestMeta | undefined,
  entry: Omit<AuditRecord, 'sourceIp' | 'userAgent' | 'requestId'>,
): AuditRecord {
  return {
    ...entry,
    ...(meta?.ip ? { sourceIp: meta.ip } : {}),
    ...(meta?.userAgent ? { userAgent: meta.userAgent } : {}),
    ...(meta?.requestId ? { requestId: meta.requestId } : {}),
  };
}

/** Cache keys of the module under a namespace; one place so invalidation matches lookup. */
export function cacheKeys(ns: string) {
  return {
    session: (sid: string) => `${ns}:session:${sid}`,
    client: (id: string) => `${ns}:client:${id}`,
    ipFailures: (ip: string) => `${ns}:ipfail:${ip}`,
    ipBlock: (ip: string) => `${ns}:ipblock:${ip}`,
    ipLevel: (ip: string) => `${ns}:iplevel:${ip}`,
    challenge: (hash: string) => `${ns}:mfachallenge:${hash}`,
    challengeTries: (hash: string) => `${ns}:mfachallenge-tries:${hash}`,
  };
}
