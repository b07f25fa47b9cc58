import type { Bundle, BundleEntry, BundleLink, FhirResource, Resource } from 'fhir/r4.js';
import type { Query } from '../http/request.js';
import { shapeResource, type SummaryMode } from '../http/shape.js';
import type { SearchOutcome } from './execute.js';

export interface BundleOptions {
  baseUrl: string;
  /** Path after the base for links, e.g. `Patient`. */
  path: string;
  query: Query;
  ignored: string[];
  summary?: SummaryMode;
  elements?: string[];
}

function link(options: BundleOptions, cursor?: string): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(options.query)) {
    if (name === '_cursor' || value === undefined || options.ignored.includes(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(name, v);
  }
  if (cursor) search.append('_cursor', cursor);
  const qs = search.toString();
  return `${options.baseUrl}/${options.path}${qs ? `?${qs}` : ''}`;
}

/** A `searchset` Bundle: matches, included resources, paging links and ignored parameters. */
export function searchsetBundle(outcome: SearchOutcome, options: BundleOptions): Bundle {
  const entry = (resource: Resource, mode: 'match' | 'include'): BundleEntry => ({
    fullUrl: `${options.baseUrl}/${resource.resourceType}/${resource.id}`,
    resource: shapeResource(resource, options.summary, options.elements) as FhirResource,
    search: { mode },
  });
  const links: BundleLink[] = [
    { relation: 'self', url: link(options, options.query._cursor as string | undefined) },
  ];
  if (outcome.next) links.push({ relation: 'next', url: link(options, outcome.next) });
  if (outcome.previous) links.push({ relation: 'previous', url: link(options, outcome.previous) });
  const entries = [
    ...outcome.matches.map((r) => entry(r, 'match')),
    ...outcome.included.map((r) => entry(r, 'include')),
  ];
  if (options.ignored.length > 0) {
    entries.push({
      resource: {
        resourceType: 'OperationOutcome',
        issue: options.ignored.map((name) => ({
          severity: 'warning',
          code: 'not-supported',
          diagnostics: `search parameter ${name} is not known and was ignored`,
          expression: [name],
        })),
      },
      search: { mode: 'outcome' },
    });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(outcome.total !== undefined ? { total: outcome.total } : {}),
    link: links,
    entry: entries,
  };
}
