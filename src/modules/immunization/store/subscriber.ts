import type { AppContext } from '../../../platform/context.js';
import type { DomainEvent, SubscriberDefinition } from '../../../platform/events/port.js';
import { Coalescer } from './coalesce.js';
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
 *
 * Order does not matter (each run reads the current records), so deliveries run side by side;
 * the doses of one patient recorded together (a transaction Bundle, an import) share one
 * forecast run, and one patient never has two runs at once in this process, so an older
 * computation cannot overwrite a newer one.
 */
export function recommendationSubscriber(ctx: AppContext): SubscriberDefinition {
  const runs = new Coalescer();
  return {
    name: RECOMMENDATION_SUBSCRIBER,
    events: ['immunization.recorded', 'immunization.updated', 'immunization.deleted'],
    concurrency: 8,
    async handle(event) {
      if (event.aggregate.type !== 'Immunization') return;
      await Promise.all(
        affectedPatients(event).map((patientId) =>
          runs.run(patientId, () => refreshRecommendation(ctx, patientId)),
        ),
      );
    },
  };
}
