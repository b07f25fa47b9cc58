import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnEntry, waitFor } from '../../helpers/process.js';

test('iris worker runs until SIGTERM, then stops gracefully and marks its worker row stopped', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-events-worker-'));
  try {
    const worker = spawnEntry('test/fixtures/events/cli-worker.ts', [], { EVENTS_DATA_DIR: dataDir });
    await waitFor(
      () => worker.stdout().includes('running'),
      60_000,
      `the worker to start (${worker.stderr()})`,
    );
    assert.match(worker.stdout(), /iris worker cli-worker running/);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.stderr());
    assert.match(worker.stdout(), /iris worker stopped\nworker row stopped: true/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
