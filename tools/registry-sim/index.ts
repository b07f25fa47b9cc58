// Immunization registry (IIS) simulator: a separate test program that plays the state registry for
// e2e tests, benchmarks and demos. It must never import from src/.
export { startRegistrySim } from './server.js';
export type {
  DoseAction,
  Faults,
  RegistrySim,
  SimCredentials,
  SimOAuth,
  SimOptions,
  SimStats,
  StoredDose,
} from './types.js';
