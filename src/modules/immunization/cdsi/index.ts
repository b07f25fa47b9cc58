/** Public surface of the CDSi evaluation and forecasting engine. */
export { runForecast } from './engine.js';
export {
  loadSupportingData,
  getSupportingData,
  SupportingDataError,
  DEFAULT_CDSI_DIR,
  DEFAULT_CDC_DIR,
} from './supporting-data.js';
export { addDuration, parseDuration, parseDate, formatDate } from './dates.js';
export type { DayNumber, Duration } from './dates.js';
export type * from './types.js';
export { observationCodesFor } from './observations.js';
export type { Coding } from './observations.js';
