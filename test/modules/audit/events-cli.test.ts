import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerAuditCli } from '../../../src/modules/audit/cli.js';
import { eventToRecord, subscribeAuditEvents } from '../../../src/modules/audit/events.js';
import type { AppContext } from '../../../src/platform/context.js';
import type { DomainEvent, EventBus, SubscriberDefinition } from '../../../src/platform/events/port.js';
import { auditFixture, sampleRecord, tamper, type AuditFixture } from './setup.js';

function event(
  type: string,
  payload: Record<string, unknown>,
  actor: DomainEvent['actor'] = null,
): DomainEvent {
  return {
    id: '0190f0e0-0000-7000-8000-000000000001',
    type,
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    actor,
    aggregate: { type: 'user', id: 'user-9' },
    correlationId: 'req-77',
    causationId: null,
    payload,
  };
}

describe('identity and access events become audit entries', () => {
  test('each event maps to an entry with its outcome, actor, patients and non-PHI details', () => {
    const failed = eventToRecord(
      event('user.login_failed', { username: 'jo', sourceIp: '10.0.0.9', password: 'x' }),
    );
    assert.equal(failed.action, 'user.login_failed');
    assert.equal(failed.outcome, 'failure');
    assert.deepEqual(failed.actor, { type: 'user', id: 'user-9' });
    assert.equal(failed.sourceIp, '10.0.0.9');
    assert.equal(failed.requestId, 'req-77');
    assert.deepEqual(failed.details, { eventId: '0190f0e0-0000-7000-8000-000000000001', username: 'jo' });

    const glass = eventToRecord(
      event('break_glass.opened', { patientId: 'pat-1', reason: 'emergency' }, { type: 'user', id: 'dr-1' }),
    );
    assert.deepEqual(
      [glass.actor?.id, glass.patientIds, glass.details?.reason],
      ['dr-1', ['pat-1'], 'emergency'],
    );

    const phi = eventToRecord(
      event('phi.accessed', {
        patientIds: ['a', 'b'],
        resourceType: 'Immunization',
        resourceId: 'i1',
        purposeOfUse: 'TREAT',
      }),
    );
    assert.deepEqual(
      [phi.patientIds, phi.resource, phi.purposeOfUse],
      [['a', 'b'], { type: 'Immunization', id: 'i1' }, 'TREAT'],
    );

    const role = eventToRecord(
      event('role.changed', { added: ['admin'], removed: [] }, { type: 'user', id: 'root' }),
    );
    assert.deepEqual(role.details, {
      eventId: '0190f0e0-0000-7000-8000-000000000001',
      added: ['admin'],
      removed: [],
      userId: 'user-9',
    });
  });

  test('the subscriber records what the bus delivers', async () => {
    const subscribed: SubscriberDefinition[] = [];
    const bus: EventBus = {
      subscribe: (d) => subscribed.push(d),
      publish: () => Promise.reject(new Error('not used')),
      publishMany: () => Promise.reject(new Error('not used')),
    };
    const recorded: string[] = [];
    subscribeAuditEvents(bus, {
      record: async (entry) => void recorded.push(entry.action),
      recordMany: () => Promise.reject(new Error('not used')),
    });
    assert.equal(subscribed.length, 1);
    assert.ok(subscribed[0]!.events.includes('mfa.enrolled'));
    await subscribed[0]!.handle(event('session.revoked', {}), {
      attempt: 1,
      publish: () => Promise.reject(new Error('x')),
    });
    assert.deepEqual(recorded, ['session.revoked']);
  });
});

describe('iris audit commands', () => {
  let fx: AuditFixture;
  let out = '';
  let err = '';
  let terminal = false;
  const run = async (...args: string[]) => {
    out = '';
    err = '';
    const io = {
      out: { write: (chunk: string) => ((out += chunk), true), once: () => undefined },
      err: { write: (chunk: string) => ((err += chunk), true), once: () => undefined, isTTY: terminal },
    };
    process.exitCode = undefined;
    const program = new Command('iris').exitOverride();
    registerAuditCli(
      program,
      async () => ({}) as AppContext,
      () => fx.audit,
      io,
    );
    await program.parseAsync(['node', 'iris', 'audit', ...args]);
    const code = process.exitCode ?? 0;
    process.exitCode = undefined;
    return code;
  };

  before(async () => {
    fx = await auditFixture({ checkpointEvery: 10 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => fx.audit.record(sampleRecord(i))));
    await fx.audit.flush();
  });
  after(() => fx.close());

  test('verify shows its progress on a terminal, erased before the report; a short run in a pipe prints only the report', async () => {
    terminal = true;
    try {
      assert.equal(await run('verify'), 0);
    } finally {
      terminal = false;
    }
    const line = 'verifying: 30 of 30 entries (100%)';
    assert.ok(err.startsWith(`\r${line}`), JSON.stringify(err));
    assert.ok(err.endsWith(`\r${' '.repeat(line.length)}\r`), JSON.stringify(err));
    assert.match(out, /audit log intact: entries 1\.\.30/);
    assert.equal(await run('verify'), 0);
    assert.equal(err, '');
  });

  test('verify reports an intact log, a range, and damage with exit code 1', async () => {
    assert.equal(await run('verify'), 0);
    assert.match(out, /audit log intact: entries 1\.\.30 \(30 entries/);
    assert.equal(await run('verify', '--from', '11', '--to', '20', '--json'), 0);
    assert.deepEqual(JSON.parse(out).from, 11);
    assert.equal(await run('verify', '--from', 'ten'), 2);
    assert.match(err, /--from must be a whole number/);
    assert.equal(await run('verify', '--threads', '0'), 2);
    assert.match(err, /--threads must be at least 1/);
    // A log this small is not worth a thread: checked here whatever --threads asks.
    assert.equal(await run('verify', '--threads', '4', '--json'), 0);
    assert.equal(JSON.parse(out).threads, 1);
    await tamper(fx.handle, 'DELETE FROM audit_log WHERE seq = 14');
    assert.equal(await run('verify'), 1);
    assert.match(out, /first damage at 14 \(deleted\)/);
  });

  test('export writes JSON Lines after a sequence number and prints the next cursor', async () => {
    assert.equal(await run('export', '--since-seq', '25'), 0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number });
    assert.deepEqual(
      lines.map((l) => l.seq),
      [26, 27, 28, 29, 30],
    );
    assert.match(err, /next --since-seq 30/);
  });
});
