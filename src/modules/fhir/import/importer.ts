import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from 'fhir/r4.js';
import { IrisError } from '../../../platform/http/errors.js';
import { processTransaction } from '../bundle/process.js';
import { rewriteReferences } from '../bundle/references.js';
import { SYSTEM_CONTEXT, type FhirRuntime } from '../store/context.js';

export interface ImportSummary {
  resources: number;
  byType: Record<string, number>;
  errors: Array<{ source: string; message: string }>;
}

const UUID = /^urn:uuid:([0-9a-fA-F-]{36})$/;

/**
 * Turns resources into a transaction of PUTs at stable ids, so a second run of the same input
 * updates (or leaves unchanged) what the first run stored instead of duplicating it. Ids come
 * from the resource, else from a `urn:uuid:` fullUrl; references to those fullUrls are rewritten.
 */
export function asIdempotentTransaction(entries: Array<{ fullUrl?: string; resource: Resource }>): Bundle {
  const map = new Map<string, string>();
  const planned = entries.map(({ fullUrl, resource }) => {
    const id = resource.id ?? (fullUrl ? UUID.exec(fullUrl)?.[1] : undefined) ?? randomUUID();
    if (fullUrl) map.set(fullUrl, `${resource.resourceType}/${id}`);
    return { ...resource, id } as Resource;
  });
  const out: BundleEntry[] = planned.map((resource) => {
    rewriteReferences(resource, map);
    return {
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
      resource: resource as BundleEntry['resource'],
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry: out };
}

/** Stores one group of resources atomically through the normal validation and indexing path. */
export async function importGroup(
  rt: FhirRuntime,
  source: string,
  entries: Array<{ fullUrl?: string; resource: Resource }>,
  summary: ImportSummary,
): Promise<void> {
  if (entries.length === 0) return;
  try {
    await processTransaction(rt, SYSTEM_CONTEXT, asIdempotentTransaction(entries), false);
    summary.resources += entries.length;
    for (const { resource } of entries)
      summary.byType[resource.resourceType] = (summary.byType[resource.resourceType] ?? 0) + 1;
  } catch (error) {
    const message =
      error instanceof IrisError
        ? error.details.map((d) => `${d.location ?? ''} ${d.message}`.trim()).join('; ') || error.message
        : String(error);
    summary.errors.push({ source, message });
  }
}
