import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { loadConfig } from '../../../src/config.js';
import type { AuditRecord } from '../../../src/platform/audit/port.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { registerEventCommands } from '../../../src/platform/events/cli.js';
import { eventHealthChecks } from '../../../src/platform/events/health.js';
import type { IrisEventBus } from '../../../src/platform/events/index.js';
import { registerEventMetrics } from '../../../src/platform/events/metrics.js';
import { registerEventAdminRoutes } from '../../../src/platform/events/routes.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { errors } from '../../../src/platform/http/errors.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import { testDatabase } from '../../helpers/db.js';
import { aggregate, fastBus, migrateEvents, silent, statuses, until } from './helpers.js';

describe('event bus administration: HTTP API, CLI, metrics, health', () => {
  let handle: DatabaseHandle;
  let bus: IrisEventBus;
  let app: FastifyInstance;
  const audited: AuditRecord[] = [];
  let failing = true;

  before(async () => {
    handle = await testDatabase();
    await migrateEvents(handle.db);
    bus = fastBus(handle.db, { retry: { maxAttempts: 1 } });
    bus.subscribe({
      name: 'admin.sub',
      events: ['adm.*'],
      handle: async () => {
        if (failing) throw new Error('boom');
      },
    });
    await bus.start();
    for (const id of ['a1', 'a2', 'a3']) {
      await handle.db.transaction((tx) =>
        bus.publish(tx, { type: 'adm.thing', aggregate: aggregate(id), payload: { id } }),
      );
    }
    await until(async () => (await statuses(handle.db, 'admin.sub')).dead === 3, 3000, 'dead letters');
    const config = loadConfig({
      NODE_ENV: 'test',
      IRIS_DATA_DIR: '/tmp/iris-events-admin',
      LOG_LEVEL: 'silent',
    });
    app = await createHttpApp({
      config,
      logger: silent,
      metrics: createMetrics(() => handle.db.stats()),
      version: 't',
    });
    await app.register(async (scope) =>
      registerEventAdminRoutes(
        scope,
        bus,
        async (request) => {
          if (request.headers.authorization !== 'Bearer admin') throw errors.forbidden('admins only');
          request.userId = 'admin-1';
        },
        {
          audit: {
            record: async (entry) => void audited.push(entry),
            recordMany: async (entries) => void audited.push(...entries),
          },
        },
      ),
    );
    await app.ready();
  });
  after(async () => {
    await app.close();
    await bus.stop();
    await handle.close();
  });

  const as = { authorization: 'Bearer admin' };

  test('the guard runs first: without permission, 403 problem+json', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/events/dlq' });
    assert.equal(res.statusCode, 403);
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
  });

  test('list, inspect, retry and discard dead letters; each action is audited', async () => {
    const list = await app.inject({ method: 'GET', url: '/api/v1/events/dlq?limit=2', headers: as });
    assert.equal(list.statusCode, 200);
    const page = list.json() as {
      items: Array<{ id: number; event: { type: string; payload: unknown } }>;
      next: number;
    };
    assert.equal(page.items.length, 2);
    assert.equal(page.items[0]!.event.type, 'adm.thing');
    const rest = await app.inject({
      method: 'GET',
      url: `/api/v1/events/dlq?before=${page.next}`,
      headers: as,
    });
    assert.equal((rest.json() as { items: unknown[] }).items.length, 1);

    const id = page.items[0]!.id;
    const show = await app.inject({ method: 'GET', url: `/api/v1/events/dlq/${id}`, headers: as });
    assert.equal(show.statusCode, 200);
    assert.match((show.json() as { lastError: string }).lastError, /boom/);

    failing = false;
    const retry = await app.inject({ method: 'POST', url: `/api/v1/events/dlq/${id}/retry`, headers: as });
    assert.equal(retry.statusCode, 202);
    await until(async () => (await statuses(handle.db, 'admin.sub')).done === 1, 3000, 'redelivered');

    const gone = await app.inject({ method: 'GET', url: `/api/v1/events/dlq/${id}`, headers: as });
    assert.equal(gone.statusCode, 404);
    assert.equal((gone.json() as { code: string }).code, 'IRIS_NOT_FOUND');

    const discard = await app.inject({
      method: 'DELETE',
      url: `/api/v1/events/dlq/${page.items[1]!.id}`,
      headers: as,
    });
    assert.equal(discard.statusCode, 204);
    assert.deepEqual(
      audited.map((a) => a.action),
      ['events.dlq.list', 'events.dlq.list', 'events.dlq.show', 'events.dlq.retry', 'events.dlq.discard'],
    );
    assert.deepEqual(audited[3]!.actor, { type: 'user', id: 'admin-1' });
  });

  test('replay through the API: validation, unknown subscriber, success', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/events/replay',
      headers: as,
      payload: { subscriber: 'admin.sub', from: 'yesterday' },
    });
    assert.equal(bad.statusCode, 400);
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/v1/events/replay',
      headers: as,
      payload: { subscriber: 'nobody' },
    });
    assert.equal(unknown.statusCode, 404);
    const ok = await app.inject({
      method: 'POST',
      url: '/api/v1/events/replay',
      headers: as,
      payload: { subscriber: 'admin.sub', aggregate: { type: 'Patient', id: 'a1' } },
    });
    assert.equal(ok.statusCode, 202);
    assert.equal((ok.json() as { scheduled: number }).scheduled, 1);
    assert.equal(audited.at(-1)?.action, 'events.replay');
  });

  test('job schedule and history, and queue status per subscriber', async () => {
    const jobs = await app.inject({ method: 'GET', url: '/api/v1/events/jobs', headers: as });
    assert.equal(jobs.statusCode, 200);
    assert.deepEqual(
      (jobs.json() as { jobs: Array<{ name: string }> }).jobs.map((j) => j.name),
      ['events.housekeeping'],
    );
    const subs = await app.inject({ method: 'GET', url: '/api/v1/events/subscribers', headers: as });
    assert.equal(subs.statusCode, 200);
    assert.equal(
      (subs.json() as { subscribers: Array<{ subscriber: string }> }).subscribers[0]?.subscriber,
      'admin.sub',
    );
  });

  test('the routes are documented in OpenAPI', async () => {
    const spec = app.swagger() as { paths: Record<string, unknown> };
    for (const path of [
      '/api/v1/events/dlq',
      '/api/v1/events/dlq/{id}',
      '/api/v1/events/dlq/{id}/retry',
      '/api/v1/events/replay',
      '/api/v1/events/jobs',
      '/api/v1/events/subscribers',
    ]) {
      assert.ok(spec.paths[path], path);
    }
  });

  test('the CLI replays and manages dead letters', async () => {
    failing = true;
    await handle.db.transaction((tx) =>
      bus.publish(tx, { type: 'adm.thing', aggregate: aggregate('c1'), payload: {} }),
    );
    await until(
      async () => (await bus.deadLetters.list({ limit: 10 })).some((l) => l.event.aggregate.id === 'c1'),
      3000,
      'dlq',
    );
    const letter = (await bus.deadLetters.list({ limit: 10 })).find((l) => l.event.aggregate.id === 'c1')!;
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write;
      try {
        const program = new Command('iris').exitOverride();
        registerEventCommands(program, async () => ({ events: bus }));
        await program.parseAsync(['node', 'iris', ...args]);
      } finally {
        process.stdout.write = write;
      }
      return out.join('');
    };
    assert.match(
      await run('events', 'dlq', 'list', '--subscriber', 'admin.sub'),
      new RegExp(`^${letter.id}  .*adm\\.thing  Patient/c1`, 'm'),
    );
    assert.match(await run('events', 'dlq', 'show', String(letter.id)), /"type": "adm.thing"/);
    assert.match(await run('events', 'status'), /admin\.sub {2}pending/);
    assert.match(await run('events', 'jobs'), /events\.housekeeping {2}17 3 \* \* \*/);
    assert.match(await run('events', 'dlq', 'discard', String(letter.id)), /discarded/);
    assert.match(
      await run(
        'events',
        'replay',
        '--subscriber',
        'admin.sub',
        '--aggregate',
        'Patient/c1',
        '--type',
        'adm.*',
      ),
      /scheduled 1 delivery to admin\.sub/,
    );
    const before = process.exitCode;
    await run('events', 'dlq', 'retry', 'abc');
    assert.equal(process.exitCode, 2);
    process.exitCode = before;
  });

  test('metrics and health report queue depth, dead letters, breakers and workers', async () => {
    const registry = new Registry();
    registerEventMetrics(registry, bus);
    failing = true;
    const deadBefore = (await statuses(handle.db, 'admin.sub')).dead ?? 0;
    await handle.db.transaction((tx) =>
      bus.publish(tx, { type: 'adm.thing', aggregate: aggregate('m1'), payload: {} }),
    );
    await until(
      async () => ((await statuses(handle.db, 'admin.sub')).dead ?? 0) > deadBefore,
      3000,
      'dead letter',
    );
    const text = await registry.metrics();
    assert.match(text, /iris_events_dlq_size\{subscriber="admin.sub"\} \d+/);
    assert.match(text, /iris_events_breaker_state\{subscriber="admin.sub"\} [012]/);
    assert.match(text, /iris_events_workers_alive 1/);
    assert.match(text, /iris_events_delivery_attempts_total\{subscriber="admin.sub",outcome="dead"\} \d+/);
    assert.match(text, /iris_events_lag_seconds/);
    const [check] = eventHealthChecks(bus);
    assert.match(String(await check!.run()), /1 worker\(s\); \d+ open; lag [\d.]+ s; dlq \d+/);
  });
});
