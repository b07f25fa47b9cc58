import { eventMigrations } from '../events/schema.js';
import type { Migration } from './migrations.js';

/** Schema owned by the platform itself; modules list their own in their IrisModule. */
export const platformMigrations: Migration[] = [...eventMigrations];
