#!/usr/bin/env node
// The `iris` command. Runs the compiled CLI (npm ci builds it; `npm run build` refreshes it).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/iris.js', import.meta.url);
if (!existsSync(compiled)) {
  process.stderr.write('iris: dist/ is missing; run "npm run build" first\n');
  process.exit(2);
}
await import(compiled.href);
