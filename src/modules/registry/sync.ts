import type { AppContext } from '../../platform/context.js';
import type { DomainEvent, SubscriberDefinition } from '../../platform/events/port.js';
import { TickBatch } from '../../platform/tick-batch.js';
import type { EndpointRepository } from './endpoints.js';
import { enqueue, type NewSubmission } from './submissions.js';

interface ImmunizationChange {
  id: string;
  versionId: string;
  patientIds?: string[];
}

/** A submission to queue for every enabled registry. */
type DoseChange = Omit<NewSubmission, 'endpointId' | 'trigger' | 'requestedBy'>;

export const SYNC_EVENTS = ['immunization.recorded', 'immunization.updated', 'immunization.deleted'];

/**
 * Turns every change of a dose into one durable submission per enabled registry. The work
 * itself is the dispatcher's; this only queues, so it is quick and a registry outage never
 * holds up the event bus.
 */
export function syncSubscriber(
  ctx: AppContext,
  endpoints: EndpointRepository,
  queued: (endpointIds: string[]) => void,
): SubscriberDefinition {
  // The doses of a Bundle arrive together: one look at the endpoints and one transaction for all.
  const batch = new TickBatch<DoseChange>(async (changes) => {
    const enabled = await endpoints.enabledIds();
    if (enabled.length === 0) return;
    const added = new Set<string>();
    await ctx.db.transaction(async (tx) => {
      for (const change of changes) {
        for (const endpointId of enabled) {
          const row = await enqueue(tx, { endpointId, ...change, trigger: 'event' });
          if (row) added.add(endpointId);
        }
      }
    });
    if (added.size > 0) queued([...added]);
  });
  return {
    name: 'registry.sync',
    events: SYNC_EVENTS,
    concurrency: 256,
    retry: { maxAttempts: 20, baseDelayMs: 500, maxDelayMs: 60_000 },
    async handle(event: DomainEvent) {
      const change = event.payload as unknown as ImmunizationChange;
      const version = Number(change.versionId);
      if (!change.id || !Number.isSafeInteger(version)) return;
      await batch.add({
        immunizationId: change.id,
        immunizationVersion: version,
        patientId: change.patientIds?.[0] ?? null,
        operation: event.type === 'immunization.deleted' ? 'delete' : 'submit',
      });
    },
  };
}
