/**
 * `iris serve` for the audit price bench, run as `node --import tsx` with BENCH_AUDIT=on|off.
 * "off" is the one switch the issue allows the bench harness alone: the modules record into a
 * trail that keeps nothing, so the same server answers the same reads without auditing them.
 * Both arms start from this file so that they differ in that switch and nothing else.
 */
import { action } from '../../src/cli/run.js';
import { serve } from '../../src/cli/serve.js';
import type { AuditTrail } from '../../src/platform/audit/port.js';

const keepsNothing: AuditTrail = {
  record: () => Promise.resolve(),
  recordMany: () => Promise.resolve(),
};

const arm = process.env.BENCH_AUDIT;
if (arm !== 'on' && arm !== 'off') throw new Error(`BENCH_AUDIT must be on or off (got ${arm})`);
await action(() => serve(arm === 'off' ? { recordInto: keepsNothing } : {}))();
