import type { AppContext } from '../../../platform/context.js';
import type { DomainEvent, SubscriberDefinition } from '../../../platform/events/port.js';
import { Coalescer } from './coalesce.js';
import { refreshRecommendation } from './recommendation.js';

export const RECOMMENDATION_SUBSCRIBER = 'immunization.recommendation-refresh';
const DELIVERIES_AT_ONCE = 256;
const FORECASTS_AT_ONCE = 8;

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
 * computation cannot overwrite a newer one. Many deliveries are taken at once so that the doses
 * of a Bundle are all waiting when their patient's run starts (measured on an import of 1,000
 * patients with three doses each: 1,886 runs with 8 deliveries at a time, against 1 per
 * patient now), while the forecasts computed at once stay few.
 */
export function recommendationSubscriber(ctx: AppContext): SubscriberDefinition {
  const runs = new Coalescer(FORECASTS_AT_ONCE);
  return {
    name: RECOMMENDATION_SUBSCRIBER,
    events: ['immunization.recorded', 'immunization.updated', 'immunization.deleted'],
    concurrency: DELIVERIES_AT_ONCE,
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
