import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Bundle, Resource } from 'fhir/r4.js';
import { analyzeStore } from '../repo.js';
import type { FhirRuntime } from '../store/context.js';
import { importGroup, type ImportSummary } from './importer.js';

const NDJSON_BATCH = 200;

async function listFiles(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const names = (await readdir(path)).sort();
  const nested = await Promise.all(names.map((n) => listFiles(join(path, n))));
  return nested.flat().filter((f) => f.endsWith('.json') || f.endsWith('.ndjson'));
}

async function importJson(rt: FhirRuntime, file: string, summary: ImportSummary): Promise<void> {
  let doc: Resource;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as Resource;
  } catch (error) {
    summary.errors.push({ source: file, message: `not JSON: ${(error as Error).message}` });
    return;
  }
  if (doc.resourceType === 'Bundle') {
    const entries = ((doc as Bundle).entry ?? []).flatMap((e) =>
      e.resource ? [{ ...(e.fullUrl ? { fullUrl: e.fullUrl } : {}), resource: e.resource as Resource }] : [],
    );
    await importGroup(rt, file, entries, summary);
    return;
  }
  await importGroup(rt, file, [{ resource: doc }], summary);
}

async function importNdjson(
  rt: FhirRuntime,
  file: string,
  summary: ImportSummary,
  progress: () => void,
): Promise<void> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let batch: Array<{ resource: Resource }> = [];
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (!line.trim()) continue;
    try {
      batch.push({ resource: JSON.parse(line) as Resource });
    } catch {
      summary.errors.push({ source: `${file}:${lineNo}`, message: 'not JSON' });
    }
    if (batch.length >= NDJSON_BATCH) {
      await importGroup(rt, `${file} (lines up to ${lineNo})`, batch, summary);
      batch = [];
      progress();
    }
  }
  await importGroup(rt, `${file} (lines up to ${lineNo})`, batch, summary);
}

/** Imports FHIR Bundles (.json), single resources (.json) and NDJSON files, or a directory of them. */
export async function importPath(
  rt: FhirRuntime,
  path: string,
  onProgress: (done: number, total: number, summary: ImportSummary) => void,
): Promise<ImportSummary> {
  const files = await listFiles(path);
  const summary: ImportSummary = { resources: 0, byType: {}, errors: [] };
  for (const [i, file] of files.entries()) {
    if (file.endsWith('.ndjson'))
      await importNdjson(rt, file, summary, () => onProgress(i, files.length, summary));
    else await importJson(rt, file, summary);
    onProgress(i + 1, files.length, summary);
  }
  if (summary.resources > 0) await analyzeStore(rt.db);
  return summary;
}
