import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

let fx: AuditFixture;
before(async () => {
  fx = await auditFixture({ alertEvaluationGapMs: 200, passIntervalMs: 0 });
});
after(() => fx.close());

test('alert rules run at most once per interval while batches keep coming, and flush runs them at once', async () => {
  let runs = 0;
  const process = fx.audit.alerts.process.bind(fx.audit.alerts);
  fx.audit.alerts.process = async (...args) => {
    runs += 1;
    return process(...args);
  };
  const started = performance.now();
  // One chained batch after another for about half a second.
  for (let i = 0; performance.now() - started < 500; i++) {
    await fx.handle.db.transaction((tx) => fx.audit.record(sampleRecord(i), tx));
    await fx.audit.writer.flush();
    // Embedded queries resolve without a trip through the event loop: let timers run, as
    // socket I/O does on a server.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsed = performance.now() - started;
  assert.ok(runs >= 2, `${runs} evaluations`);
  assert.ok(runs <= Math.ceil(elapsed / 200) + 1, `${runs} evaluations in ${Math.round(elapsed)} ms`);
  // A burst of failed logins is evaluated by flush without waiting out the interval.
  for (let i = 0; i < 12; i++) {
    await fx.audit.record(
      sampleRecord(i, {
        action: 'auth.login',
        outcome: 'failure',
        patientIds: [],
        actor: { type: 'user', id: 'mallory' },
      }),
    );
  }
  const flushed = performance.now();
  await fx.audit.flush();
  assert.ok(performance.now() - flushed < 150, 'flush did not wait for the interval');
  const { rows } = await fx.handle.db.query<{ rule: string }>(`SELECT rule FROM audit_alerts`);
  assert.ok(
    rows.some((r) => r.rule === 'failed_logins'),
    JSON.stringify(rows),
  );
});
