import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AuditWriter } from '../../../src/modules/audit/writer.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

let fx: AuditFixture;
before(async () => {
  fx = await auditFixture();
});
after(() => fx.close());

test('entries recorded one after another are chained by a few passes, not one pass each', async () => {
  const writer = new AuditWriter(fx.handle.db, fx.keyring, createLogger('silent'), {
    timer: false,
    passIntervalMs: 300,
  });
  const batches: number[] = [];
  writer.onChained((batch) => {
    batches.push(batch.lastSeq - batch.firstSeq + 1);
  });
  try {
    // Each record resolves once its entry is durable in the intake: twenty round trips.
    for (let i = 0; i < 20; i++) await writer.record(sampleRecord(i));
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      20,
      'chained without a flush',
    );
    assert.ok(batches.length <= 4, `${batches.length} passes: ${batches.join(', ')}`);
  } finally {
    await writer.close();
  }
});
