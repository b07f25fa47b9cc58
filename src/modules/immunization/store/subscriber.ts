import type { ImmunizationRecommendation } from 'fhir/r4.js';
import type { AppContext } from '../../../platform/context.js';
import type { DomainEvent, SubscriberDefinition } from '../../../platform/events/port.js';
import { fhirStore, SYSTEM_CONTEXT } from '../../fhir/index.js';
import { refreshRecommendation } from './recommendation.js';

export const RECOMMENDATION_SUBSCRIBER = 'immunization.recommendation-refresh';

function payloadPatients(event: DomainEvent): string[] {
  const ids = event.payload.patientIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
}

/**
 * The patients whose forecast an Immunization change touches: the ones the event names, and
 * those whose stored recommendation cites the dose (the patient it belonged to before an
 * update moved it, or before it was deleted).
 */
async function affectedPatients(ctx: AppContext, event: DomainEvent): Promise<string[]> {
  const citing = (await fhirStore(ctx).search(SYSTEM_CONTEXT, 'ImmunizationRecommendation', {
    support: `Immunization/${event.aggregate.id}`,
  })) as ImmunizationRecommendation[];
  const cited = citing
    .map((r) => r.patient.reference?.match(/^Patient\/([A-Za-z0-9\-.]{1,64})$/)?.[1])
    .filter((id): id is string => id !== undefined);
  return [...new Set([...payloadPatients(event), ...cited])];
}

/**
 * Keeps each patient's stored ImmunizationRecommendation current: every recorded, updated or
 * deleted Immunization recomputes the forecast from the stored records as of today. A replay
 * recomputes the same answer and stores no new version. It writes ImmunizationRecommendations
 * only, whose events (`immunization-recommendation.*`) it does not listen to.
 */
export function recommendationSubscriber(ctx: AppContext): SubscriberDefinition {
  return {
    name: RECOMMENDATION_SUBSCRIBER,
    events: ['immunization.recorded', 'immunization.updated', 'immunization.deleted'],
    orderedByAggregate: true,
    async handle(event) {
      if (event.aggregate.type !== 'Immunization') return;
      for (const patientId of await affectedPatients(ctx, event)) {
        await refreshRecommendation(ctx, patientId);
      }
    },
  };
}
