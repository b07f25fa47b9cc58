import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/platform/observability/logger.js';
import { openRuntime } from '../src/runtime.js';
import { testDatabase } from './helpers/db.js';

test('closing the runtime lets running event handlers finish with the audit trail still open', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-close-'));
  try {
    const config = loadConfig({ NODE_ENV: 'test', IRIS_DATA_DIR: dataDir, LOG_LEVEL: 'error' });
    const logger = createLogger(config.logLevel, new Writable({ write: (_c, _e, done) => done() }));
    const runtime = await openRuntime(config, logger, {
      server: true,
      migrate: true,
      database: await testDatabase(),
    });
    const { events, audit, db } = runtime.ctx;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let outcome: 'recorded' | Error | undefined;
    events.subscribe({
      name: 'test.slow-auditor',
      events: ['test.closing'],
      async handle() {
        started();
        await new Promise((resolve) => setTimeout(resolve, 200));
        try {
          await audit.record({ action: 'test.handled', outcome: 'success', actor: null });
          outcome = 'recorded';
        } catch (error) {
          outcome = error as Error;
        }
      },
    });
    await events.start('embedded');
    await db.transaction((tx) =>
      events.publish(tx, {
        type: 'test.closing',
        actor: null,
        aggregate: { type: 'Test', id: '1' },
        payload: {},
      }),
    );
    await running;
    await runtime.close();
    assert.equal(outcome, 'recorded');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
