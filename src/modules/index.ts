import type { IrisModule } from '../platform/module.js';
import { immunizationModule } from './immunization/index.js';

/** The composition of the product: every domain module, in dependency order. */
export const modules: IrisModule[] = [immunizationModule];
