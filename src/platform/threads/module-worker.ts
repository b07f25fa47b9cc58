import { Worker, type WorkerOptions } from 'node:worker_threads';

// This file runs as TypeScript only from the sources (tests, tsx); compiled, it is .js.
const FROM_SOURCES = import.meta.url.endsWith('.ts');

/**
 * A worker thread running the compiled module at `url` (a `.js` URL beside the caller). From
 * the sources that file is `.ts`, and a worker does not inherit the parent's loader: the
 * worker registers tsx (a development dependency, reached on that path only) and imports it.
 */
export function moduleWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!FROM_SOURCES) return new Worker(url, options);
  const source = url.href.replace(/\.js$/, '.ts');
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
