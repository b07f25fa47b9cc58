import type { AppContext } from '../../../platform/context.js';
import type { DomainEvent, SubscriberDefinition } from '../../../platform/events/port.js';
import { refreshRecommendation } from './recommendation.js';

export const RECOMMENDATION_SUBSCRIBER = 'immunization.recommendation-refresh';

/**
 * The patients whose forecast an Immunization change touches. The FHIR store names them all:
 * the patient a dose belonged to before an update moved it or a delete removed it, and its new one.
 */
function affectedPatients(event: DomainEvent): string[] {
  const ids = event.payload.patientIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
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
      for (const patientId of affectedPatients(event)) {
        await refreshRecommendation(ctx, patientId);
      }
    },
  };
}
