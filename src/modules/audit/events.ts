import type { AuditOutcome, AuditRecord, AuditTrail } from '../../platform/audit/port.js';
import type { DomainEvent, EventBus } from '../../platform/events/port.js';

/** Events of other modules that become audit entries, with the outcome each one means. */
export const AUDITED_EVENTS: Record<string, AuditOutcome> = {
  'user.authenticated': 'success',
  'user.login_failed': 'failure',
  'user.locked': 'failure',
  'mfa.enrolled': 'success',
  'session.revoked': 'success',
  'role.changed': 'success',
  'break_glass.opened': 'success',
  'phi.accessed': 'success',
};

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function strings(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  const one = str(value);
  return one ? [one] : undefined;
}

// Payload keys copied into `details`: ids, codes and counts only, never PHI values.
const DETAIL_KEYS = [
  'username',
  'reason',
  'method',
  'added',
  'removed',
  'roles',
  'sessionId',
  'factor',
  'attempts',
  'interaction',
  'count',
  'until',
];

/** Maps a domain event to an audit record. */
export function eventToRecord(event: DomainEvent): AuditRecord {
  const p = event.payload;
  const details: Record<string, unknown> = { eventId: event.id };
  for (const key of DETAIL_KEYS) if (p[key] !== undefined) details[key] = p[key];
  if (event.type === 'role.changed') details['userId'] = event.aggregate.id;
  const resourceType = str(p['resourceType']);
  const outcome = str(p['outcome']);
  return {
    action: event.type,
    outcome:
      outcome === 'success' || outcome === 'failure' || outcome === 'denied'
        ? outcome
        : (AUDITED_EVENTS[event.type] ?? 'success'),
    actor: event.actor ?? (event.aggregate.type === 'user' ? { type: 'user', id: event.aggregate.id } : null),
    patientIds: strings(p['patientIds']) ?? strings(p['patientId']),
    resource: resourceType ? { type: resourceType, id: str(p['resourceId']) } : undefined,
    purposeOfUse: str(p['purposeOfUse']),
    sourceIp: str(p['sourceIp']),
    userAgent: str(p['userAgent']),
    requestId: event.correlationId ?? str(p['requestId']),
    details,
  };
}

/**
 * Subscribes the audit trail to identity and access events. Delivery is at least once, so a
 * redelivered event can appear twice; `details.eventId` lets reports collapse duplicates.
 */
export function subscribeAuditEvents(bus: EventBus, trail: AuditTrail): void {
  bus.subscribe({
    name: 'audit.trail',
    events: Object.keys(AUDITED_EVENTS),
    concurrency: 16,
    async handle(event) {
      await trail.record(eventToRecord(event));
    },
  });
}
