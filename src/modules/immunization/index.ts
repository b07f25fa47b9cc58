import type { IrisModule } from '../../platform/module.js';
import { registerForecastCommand } from './cli.js';
import { registerImmunizationRoutes } from './routes.js';
import { recommendationSubscriber } from './store/subscriber.js';

export { runForecast, getSupportingData } from './cdsi/index.js';
export type { ForecastInput, ForecastResult } from './cdsi/index.js';
export { recommendationId, refreshRecommendation } from './store/recommendation.js';

/**
 * CDSi evaluation and forecasting: the $immds-forecast operations, CDS Hooks, `iris forecast`,
 * and each patient's stored ImmunizationRecommendation kept current from Immunization events.
 */
export const immunizationModule: IrisModule = {
  name: 'immunization',
  routes: registerImmunizationRoutes,
  cli(program) {
    registerForecastCommand(program);
  },
  subscribers: (ctx) => [recommendationSubscriber(ctx)],
};
