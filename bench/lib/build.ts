import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Compiles src/ to dist/ when dist/main.js is missing or older than any source file. */
export function ensureBuilt(root: string): void {
  const main = join(root, 'dist', 'main.js');
  let builtAt = 0;
  try {
    builtAt = statSync(main).mtimeMs;
  } catch {
    // missing: build below
  }
  if (builtAt > newestMtime(join(root, 'src'))) return;
  process.stderr.write('bench: building dist/ ...\n');
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 180_000,
    },
  );
  if (tsc.status !== 0) {
    throw new Error(`build failed (tsc exit ${tsc.status ?? tsc.signal}):\n${tsc.stdout}${tsc.stderr}`);
  }
}
