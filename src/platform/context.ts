import type { Config } from '../config.js';
import type { AuditTrail } from './audit/port.js';
import type { AccessGuards } from './auth/port.js';
import type { Cache } from './cache/port.js';
import type { Keyring } from './crypto/keyring.js';
import type { Database } from './db/types.js';
import type { IrisEventBus } from './events/index.js';
import type { Logger } from './observability/logger.js';
import type { ObjectStorage } from './storage/port.js';

/** Everything a module needs from the platform; built once per process by the composition root. */
export interface AppContext {
  config: Config;
  db: Database;
  cache: Cache;
  storage: ObjectStorage;
  keyring: Keyring;
  logger: Logger;
  /** Domain events: publish inside a transaction, subscribe from a module. */
  events: IrisEventBus;
  /** The tamper-evident audit trail. */
  audit: AuditTrail;
  /** Route guards: authentication and `resource:action` permissions. */
  access: AccessGuards;
}
