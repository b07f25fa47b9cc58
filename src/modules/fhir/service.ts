import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import type { AppContext } from '../../platform/context.js';
import type { Transaction } from '../../platform/db/types.js';
import type { Query } from './http/request.js';
import { runSearch } from './search/execute.js';
import { assertValid } from './validation.js';
import { parseSearch } from './search/parse.js';
import { fhirRuntime, type CallContext, type FhirRuntime } from './store/context.js';
import {
  readMany,
  readResource,
  vreadMany,
  vreadResource,
  type ReadOptions,
  type ReadResult,
  type VersionRef,
} from './store/read.js';
import { readPatientRecords, type PatientRecords } from './store/patient-records.js';
import {
  createResource,
  createManyTrusted,
  createTrusted,
  deleteResource,
  updateResource,
  type Preconditions,
  type WriteResult,
} from './store/write.js';

/**
 * The FHIR store as other modules use it: the same reads, searches and writes as the REST API,
 * with the same scope checks, audit entries and events, without going through HTTP.
 */
export interface FhirStore {
  readonly runtime: FhirRuntime;
  read(ctx: CallContext, type: string, id: string, options?: ReadOptions): Promise<ReadResult>;
  vread(
    ctx: CallContext,
    type: string,
    id: string,
    versionId: string,
    options?: ReadOptions,
  ): Promise<ReadResult>;
  /** Current versions of several resources of one type, keyed by id; unknown, hidden or deleted ones are absent. */
  readMany(
    ctx: CallContext,
    type: string,
    ids: readonly string[],
    options?: ReadOptions,
  ): Promise<Map<string, ReadResult>>;
  /** Several versions of one type, keyed `<id>/<versionId>`; unknown, hidden or deleted ones are absent. */
  vreadMany(
    ctx: CallContext,
    type: string,
    refs: readonly VersionRef[],
    options?: ReadOptions,
  ): Promise<Map<string, ReadResult>>;
  /**
   * A patient and, per type, what `<Type>?patient=Patient/<id>` finds (at most `limitPerType`
   * each), in one round trip and one audit entry.
   */
  patientRecords(
    ctx: CallContext,
    patientId: string,
    types: readonly string[],
    limitPerType?: number,
  ): Promise<PatientRecords>;
  /** Every match of a search (all pages, up to `limit`), e.g. `{ patient: 'Patient/1' }`. */
  search(ctx: CallContext, type: string, query: Query, limit?: number): Promise<Resource[]>;
  create(
    ctx: CallContext,
    tx: Transaction,
    resource: Resource,
    options?: CreateOptions,
  ): Promise<WriteResult>;
  /**
   * Creates several new resources in a fixed number of round trips (bulk platform work), with
   * the same index rows, audit entries and events as one `create` each.
   */
  createMany(
    ctx: CallContext,
    tx: Transaction,
    resources: readonly Resource[],
    options?: CreateOptions,
  ): Promise<WriteResult[]>;
  update(
    ctx: CallContext,
    tx: Transaction,
    resource: Resource,
    pre?: Preconditions,
    options?: CreateOptions,
  ): Promise<WriteResult>;
  /** A new deleted version; null when there was nothing to delete. */
  delete(ctx: CallContext, tx: Transaction, type: string, id: string): Promise<WriteResult | null>;
}

export interface CreateOptions {
  /**
   * The resource is built by the platform from a fixed template whose validity its tests
   * assert (e.g. a registry Provenance); validating each instance again only costs time.
   */
  trusted?: boolean;
}

const stores = new WeakMap<AppContext, FhirStore>();

/** One store per application context, sharing the context's keyring, events and audit trail. */
export function fhirStore(ctx: AppContext): FhirStore {
  let store = stores.get(ctx);
  if (!store) {
    store = createFhirStore(
      fhirRuntime({
        db: ctx.db,
        keyring: ctx.keyring,
        baseUrl: `${ctx.config.http.publicUrl.replace(/\/+$/, '')}/fhir`,
        logger: ctx.logger,
        events: ctx.events,
        audit: ctx.audit,
      }),
    );
    stores.set(ctx, store);
  }
  return store;
}

export function createFhirStore(rt: FhirRuntime): FhirStore {
  return {
    runtime: rt,
    read: (ctx, type, id, options) => readResource(rt, ctx, type, id, rt.db, options),
    vread: (ctx, type, id, versionId, options) => vreadResource(rt, ctx, type, id, versionId, rt.db, options),
    patientRecords: (ctx, patientId, types, limitPerType = 10_000) =>
      readPatientRecords(rt, ctx, patientId, types, limitPerType),
    async search(ctx, type, query, limit = 10_000) {
      const found: Resource[] = [];
      let cursor: string | undefined;
      do {
        const request = parseSearch(rt.registry, type, { ...query, _count: '1000' }, true);
        if (cursor) request.cursor = cursor;
        const page = await runSearch(rt, ctx, request);
        found.push(...page.matches);
        cursor = page.next;
      } while (cursor && found.length < limit);
      return found.slice(0, limit);
    },
    async create(ctx, tx, resource, options = {}) {
      if (!options.trusted) return createResource(rt, ctx, tx, resource, resource.resourceType, resource.id);
      return createTrusted(rt, ctx, tx, { ...resource, id: resource.id ?? randomUUID() } as Resource);
    },
    readMany: (ctx, type, ids, options) => readMany(rt, ctx, type, ids, rt.db, options),
    vreadMany: (ctx, type, refs, options) => vreadMany(rt, ctx, type, refs, rt.db, options),
    async createMany(ctx, tx, resources, options = {}) {
      if (!options.trusted) for (const resource of resources) assertValid(resource, rt.validationOptions);
      return createManyTrusted(
        rt,
        ctx,
        tx,
        resources.map((resource) => ({ ...resource, id: resource.id ?? randomUUID() }) as Resource),
      );
    },
    delete: (ctx, tx, type, id) => deleteResource(rt, ctx, tx, type, id),
    update: (ctx, tx, resource, pre, options = {}) =>
      updateResource(rt, ctx, tx, resource, resource.resourceType, resource.id ?? '', pre, options.trusted),
  };
}
