import type { Command } from 'commander';
import type { AppContext } from '../../platform/context.js';
import { progressReporter } from '../../platform/progress.js';
import { importPath } from './import/files.js';
import { fhirRuntime, type FhirRuntime } from './store/context.js';
import { reindexBatch, type ReindexPosition } from './store/reindex.js';
import { keysInUse, rewrapBatch } from './store/rewrap.js';

/** The FHIR store runtime a command works with. */
function runtimeOf(ctx: AppContext): FhirRuntime {
  return fhirRuntime({
    db: ctx.db,
    keyring: ctx.keyring,
    baseUrl: `${ctx.config.http.publicUrl.replace(/\/+$/, '')}/fhir`,
    logger: ctx.logger,
  });
}

/** `iris import <file|dir>`: Bundles and NDJSON through the same validation and indexing path. */
export function registerImportCommand(program: Command, load: () => Promise<AppContext>): void {
  program
    .command('import')
    .description('import FHIR Bundles (.json) and NDJSON files, or a directory of them; safe to re-run')
    .argument('<path>', 'a file or a directory')
    .action(async (path: string) => {
      const ctx = await load();
      const rt = runtimeOf(ctx);
      const started = Date.now();
      const progress = progressReporter(process.stderr);
      const summary = await importPath(rt, path, (done, total, s) => {
        const width = 30;
        const filled = Math.round((done / Math.max(total, 1)) * width);
        progress.update(
          `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} files, ${s.resources} resources, ${s.errors.length} errors`,
        );
      }).finally(() => progress.done());
      const seconds = (Date.now() - started) / 1000;
      console.log(`imported ${summary.resources} resources in ${seconds.toFixed(1)} s`);
      for (const [type, n] of Object.entries(summary.byType).sort()) console.log(`  ${type}: ${n}`);
      for (const e of summary.errors) console.log(`error: ${e.source}: ${e.message}`);
      if (summary.errors.length > 0) process.exitCode = 1;
    });
}

/** `iris fhir-reindex`: recomputes the search index of every current resource. */
export function registerReindexCommand(program: Command, load: () => Promise<AppContext>): void {
  program
    .command('fhir-reindex')
    .description(
      'recompute the FHIR search index of every current resource (after an upgrade adds parameters)',
    )
    .action(async () => {
      const ctx = await load();
      const rt = runtimeOf(ctx);
      let total = 0;
      let position: ReindexPosition | null = null;
      const progress = progressReporter(process.stderr);
      do {
        const batch = await reindexBatch(rt, position);
        total += batch.reindexed;
        position = batch.next;
        progress.update(`re-indexed ${total} resources`);
      } while (position);
      progress.done();
      console.log(`re-indexed ${total} resources`);
    });
}

/** `iris fhir-rewrap`: moves stored records to the active data-encryption key after a rotation. */
export function registerRewrapCommand(program: Command, load: () => Promise<AppContext>): void {
  program
    .command('fhir-rewrap')
    .description(
      're-wrap FHIR records under the active data-encryption key (after "iris keys rotate data-encryption")',
    )
    .action(async () => {
      const ctx = await load();
      const rt = runtimeOf(ctx);
      let total = 0;
      const progress = progressReporter(process.stderr);
      for (let moved = await rewrapBatch(rt); moved > 0; moved = await rewrapBatch(rt)) {
        total += moved;
        progress.update(`re-wrapped ${total} records`);
      }
      progress.done();
      console.log(`re-wrapped ${total} records; keys in use: ${(await keysInUse(rt)).join(', ') || 'none'}`);
    });
}
