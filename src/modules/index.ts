import type { IrisModule } from '../platform/module.js';
import { createAuditModule } from './audit/index.js';
import { authModule } from './auth/index.js';
import { fhirModule } from './fhir/index.js';
import { immunizationModule } from './immunization/index.js';
import { registryModule } from './registry/index.js';

/** The composition of the product: every domain module, in dependency order. */
export const modules: IrisModule[] = [
  authModule,
  createAuditModule(),
  fhirModule,
  immunizationModule,
  registryModule,
];
