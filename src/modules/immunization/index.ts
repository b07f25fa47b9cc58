import type { IrisModule } from '../../platform/module.js';
import { registerForecastCommand } from './cli.js';
import { registerImmunizationRoutes } from './routes.js';

export { runForecast, getSupportingData } from './cdsi/index.js';
export type { ForecastInput, ForecastResult } from './cdsi/index.js';

/** CDSi evaluation and forecasting: the $immds-forecast operation, CDS Hooks and `iris forecast`. */
export const immunizationModule: IrisModule = {
  name: 'immunization',
  routes: registerImmunizationRoutes,
  cli(program) {
    registerForecastCommand(program);
  },
};
