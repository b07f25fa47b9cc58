import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Resource } from 'fhir/r4.js';
import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable, Transaction } from '../../../platform/db/types.js';
import { errors } from '../../../platform/http/errors.js';
import { extractIndex } from '../indexing/extract.js';
import {
  clearIndex,
  deferVersionsAndIndex,
  managedBy,
  lockCurrentRow,
  sealedOf,
  type Row,
  type StoredVersion,
  type WriteGuard,
} from '../repo.js';
import { assertValid, ID_PATTERN } from '../validation.js';
import {
  audit,
  auditEntry,
  eventType,
  SYSTEM_CONTEXT,
  type CallContext,
  type FhirRuntime,
} from './context.js';
import { applyJsonPatch } from './json-patch.js';
import { visible } from './read.js';
import { scopedQueryable, useRowScope } from './row-security.js';

export interface WriteResult {
  resource: Resource;
  versionId: string;
  lastUpdated: Date;
  /** 201 rather than 200. */
  created: boolean;
  deleted: boolean;
}

export interface Preconditions {
  /** `W/"3"` or `3`: the version the client last saw. */
  ifMatch?: string;
}

/** The version number an If-Match header names. */
export function matchVersion(ifMatch: string): string {
  return ifMatch.replace(/^W\//, '').replace(/"/g, '').trim();
}

const TYPE_PATTERN = /^[A-Z][A-Za-z]{0,63}$/;

const outsideAccess = () => errors.forbidden('the resource belongs to a patient outside your access');

/**
 * Whether the caller may write a resource of these patients (and, for a Patient, managed by
 * `org`): throws 403 when the scope alone says no, answers undefined when it alone says yes, and
 * otherwise the guard the database must confirm (each patient managed by one of the caller's
 * organizations).
 */
function writeGuard(scope: PatientScope, patients: string[], org: string | null): WriteGuard | undefined {
  if (scope.kind === 'all' || patients.length === 0) return undefined;
  if (scope.kind === 'none') throw errors.forbidden('no patient records are within your access');
  if (scope.kind === 'patients') {
    if (patients.every((p) => scope.patientIds.includes(p))) return undefined;
    throw outsideAccess();
  }
  const outside = patients.filter((p) => !scope.extraPatientIds.includes(p));
  if (outside.length === 0) return undefined;
  if (org && scope.organizationIds.includes(org) && outside.length === 1) return undefined;
  return { patients: outside, organizations: scope.organizationIds };
}

/** Stores one new version (or a deletion), its index rows, audit entry and event, inside `tx`. */
async function persist(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  input: Resource,
  previous: Row | undefined,
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
): Promise<WriteResult> {
  const type = input.resourceType;
  const id = input.id as string;
  const version = (previous?.version ?? 0) + 1;
  const now = new Date();
  // Versions of one resource keep increasing timestamps even if the clock steps back.
  const lastUpdated =
    previous && previous.last_updated >= now ? new Date(previous.last_updated.getTime() + 1) : now;
  const deleted = method === 'DELETE';
  const resource = {
    ...input,
    meta: { ...input.meta, versionId: String(version), lastUpdated: lastUpdated.toISOString() },
  } as Resource;
  const rows = deleted ? null : extractIndex(resource, rt.registry, rt.blind);
  await useRowScope(tx, ctx.scope);
  const guard = rows ? writeGuard(ctx.scope, rows.patients, rows.organizationId) : undefined;
  // Read before the index rows are replaced: a delete, or an update that moves the resource to
  // another patient, concerns the patients it belonged to as well as its new ones.
  const before = previous && !previous.deleted ? previous.patients : [];
  const patientIds = [...new Set([...before, ...(rows?.patients ?? [])])];
  const sealed = rt.cipher.seal(type, id, version, JSON.stringify(resource));
  if (previous !== undefined) await clearIndex(tx, type, id);
  // Nothing below reads what it stores: it goes with the audit entry and the event, a refusal
  // by the guard failing the transaction.
  deferVersionsAndIndex(
    tx,
    [{ type, id, version, lastUpdated, deleted, method, sealed }],
    rows ? [{ type, id, rows }] : [],
    guard,
  );
  tx.afterCommit(() => rt.statistics.noteWrites(1));
  await audit(
    rt,
    ctx,
    {
      action: `fhir.${method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method.toLowerCase()}`,
      outcome: 'success',
      patientIds,
      resource: {
        type,
        id,
        versionId: String(version),
        ...(previous ? { previousVersionId: String(previous.version) } : {}),
      },
    },
    tx,
  );
  if (rt.events) {
    const change = deleted ? 'deleted' : previous && !previous.deleted ? 'updated' : 'created';
    await rt.events.publish(tx, {
      type: eventType(type, change),
      actor: ctx.actor,
      aggregate: { type, id },
      correlationId: ctx.requestId ?? null,
      payload: { resourceType: type, id, versionId: String(version), patientIds },
    });
  }
  return {
    resource,
    versionId: String(version),
    lastUpdated,
    created: !previous || previous.deleted,
    deleted,
  };
}

function checkIfMatch(current: StoredVersion | undefined, pre: Preconditions): void {
  if (pre.ifMatch === undefined) return;
  if (!current || current.deleted || String(current.version) !== matchVersion(pre.ifMatch)) {
    throw errors.preconditionFailed(
      `If-Match ${pre.ifMatch} does not name the current version${current ? ` (${current.version})` : ''}`,
    );
  }
}

function withoutMeta(resource: Resource): Omit<Resource, 'meta'> {
  const { meta: _meta, ...rest } = resource;
  return rest;
}

/**
 * Whether two resources say the same apart from `meta`. Serialised lengths that differ settle
 * it at once: equal content in another key order has the same length. Walking both trees,
 * which a forecast refresh's changed recommendation made it do almost to the end, cost more.
 */
function sameContent(stored: Resource, next: Resource): boolean {
  const a = withoutMeta(stored);
  const b = withoutMeta(next);
  const text = JSON.stringify(a);
  const other = JSON.stringify(b);
  if (text === other) return true;
  return text.length === other.length && isDeepStrictEqual(a, b);
}

export async function createResource(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  body: unknown,
  type: string,
  id: string = randomUUID(),
): Promise<WriteResult> {
  assertValid(body, rt.validationOptions);
  if (body.resourceType !== type) {
    throw errors.badRequest(`the body is a ${body.resourceType}, the URL names ${type}`);
  }
  return persist(rt, ctx, tx, { ...body, id } as Resource, undefined, 'POST');
}

/** Stores a resource built by the platform itself, without validating it again (see CreateOptions). */
export function createTrusted(rt: FhirRuntime, ctx: CallContext, tx: Transaction, resource: Resource) {
  return persist(rt, ctx, tx, resource, undefined, 'POST');
}

/**
 * Stores many new platform-built resources (each with a fresh id) as `createTrusted` does one,
 * with the same index rows, audit entries and events, in a fixed number of round trips.
 */
export async function createManyTrusted(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  inputs: readonly Resource[],
  /** Reports which input a failure belongs to (a Bundle names its entry); default: rethrow. */
  failed: (index: number, error: unknown) => never = (_index, error) => {
    throw error;
  },
): Promise<WriteResult[]> {
  if (inputs.length === 0) return [];
  const lastUpdated = new Date();
  const written = inputs.map((input, i) => {
    const resource = {
      ...input,
      meta: { ...input.meta, versionId: '1', lastUpdated: lastUpdated.toISOString() },
    } as Resource;
    try {
      return { resource, rows: extractIndex(resource, rt.registry, rt.blind) };
    } catch (error) {
      return failed(i, error);
    }
  });
  // A Patient of the caller's organization created in this batch is known to it, as it would
  // be to the next write after a single create.
  const scope = ctx.scope;
  const ownNew = new Set(
    scope.kind === 'organizations'
      ? written
          .filter(
            ({ resource, rows }) =>
              resource.resourceType === 'Patient' &&
              rows.organizationId !== null &&
              scope.organizationIds.includes(rows.organizationId),
          )
          .map(({ resource }) => resource.id as string)
      : [],
  );
  await useRowScope(tx, scope);
  const guards = written.map(({ rows }, i) => {
    try {
      return writeGuard(
        scope,
        rows.patients.filter((p) => !ownNew.has(p)),
        rows.organizationId,
      );
    } catch (error) {
      return failed(i, error);
    }
  });
  // The patients the scope alone cannot decide, looked up together: one round trip per batch.
  const unsure = [...new Set(guards.flatMap((g) => g?.patients ?? []))];
  if (unsure.length > 0 && scope.kind === 'organizations') {
    const known = new Set(await managedBy(tx, unsure, scope.organizationIds));
    guards.forEach((guard, i) => {
      if (guard?.patients.some((p) => !known.has(p))) failed(i, outsideAccess());
    });
  }
  deferVersionsAndIndex(
    tx,
    written.map(({ resource }) => ({
      type: resource.resourceType,
      id: resource.id as string,
      version: 1,
      lastUpdated,
      deleted: false,
      method: 'POST' as const,
      sealed: rt.cipher.seal(resource.resourceType, resource.id as string, 1, JSON.stringify(resource)),
    })),
    written.map(({ resource, rows }) => ({ type: resource.resourceType, id: resource.id as string, rows })),
  );
  tx.afterCommit(() => rt.statistics.noteWrites(written.length));
  if (rt.audit) {
    await rt.audit.recordMany(
      written.map(({ resource, rows }) =>
        auditEntry(ctx, {
          action: 'fhir.create',
          outcome: 'success',
          patientIds: rows.patients,
          resource: { type: resource.resourceType, id: resource.id as string, versionId: '1' },
        }),
      ),
      tx,
    );
  }
  if (rt.events) {
    await rt.events.publishMany(
      tx,
      written.map(({ resource, rows }) => ({
        type: eventType(resource.resourceType, 'created'),
        actor: ctx.actor,
        aggregate: { type: resource.resourceType, id: resource.id as string },
        correlationId: ctx.requestId ?? null,
        payload: {
          resourceType: resource.resourceType,
          id: resource.id,
          versionId: '1',
          patientIds: rows.patients,
        },
      })),
    );
  }
  return written.map(({ resource }) => ({
    resource,
    versionId: '1',
    lastUpdated,
    created: true,
    deleted: false,
  }));
}

export async function updateResource(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  body: unknown,
  type: string,
  id: string,
  pre: Preconditions = {},
  /** Built by the platform, its validity asserted by its tests (see CreateOptions.trusted). */
  trusted = false,
): Promise<WriteResult> {
  if (!trusted) assertValid(body, rt.validationOptions);
  const resource = body as Resource;
  if (resource.resourceType !== type)
    throw errors.badRequest(`the body is a ${resource.resourceType}, the URL names ${type}`);
  if (resource.id !== id)
    throw errors.badRequest(`the body's id (${resource.id ?? 'none'}) must equal the id in the URL (${id})`);
  if (!ID_PATTERN.test(id)) throw errors.badRequest('id must be 1-64 of A-Z a-z 0-9 - .');
  await lockId(tx, type, id);
  const current = await lockCurrent(tx, type, id);
  if (current && !current.deleted) await assertVisible(rt, ctx, tx, current);
  checkIfMatch(current, pre);
  if (current && !current.deleted) {
    // A PUT that changes nothing keeps the current version (re-imports stay idempotent).
    const stored = JSON.parse(rt.cipher.open(type, id, current.version, sealedOf(current))) as Resource;
    if (sameContent(stored, resource)) {
      return {
        resource: stored,
        versionId: String(current.version),
        lastUpdated: current.last_updated,
        created: false,
        deleted: false,
      };
    }
  }
  return persist(rt, ctx, tx, resource, current, 'PUT');
}

export async function patchResource(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  patch: unknown,
  type: string,
  id: string,
  pre: Preconditions = {},
): Promise<WriteResult> {
  const current = await lockCurrent(tx, type, id);
  if (!current) throw errors.notFound(`${type}/${id} is not known`);
  if (current.deleted) throw errors.gone(`${type}/${id} was deleted`);
  await assertVisible(rt, ctx, tx, current);
  checkIfMatch(current, pre);
  const before = JSON.parse(rt.cipher.open(type, id, current.version, sealedOf(current))) as Resource;
  const after = applyJsonPatch(before, patch);
  if (after.resourceType !== type || after.id !== id)
    throw errors.unprocessable('a patch may not change resourceType or id');
  assertValid(after, rt.validationOptions);
  return persist(rt, ctx, tx, after, current, 'PATCH');
}

export async function deleteResource(
  rt: FhirRuntime,
  ctx: CallContext,
  tx: Transaction,
  type: string,
  id: string,
  pre: Preconditions = {},
): Promise<WriteResult | null> {
  const current = await lockCurrent(tx, type, id);
  if (!current || current.deleted) return null;
  await assertVisible(rt, ctx, tx, current);
  checkIfMatch(current, pre);
  return persist(rt, ctx, tx, { resourceType: type, id } as Resource, current, 'DELETE');
}

/**
 * Serialises the writes of one resource id, stored yet or not (a row lock cannot cover an id
 * that has no row). The key is written into the statement, so the lock goes out with the
 * transaction's BEGIN and settings in one round trip; type and id hold only letters, digits,
 * '-' and '.', checked here.
 */
async function lockId(tx: Transaction, type: string, id: string): Promise<void> {
  if (!TYPE_PATTERN.test(type) || !ID_PATTERN.test(id))
    throw errors.badRequest(`${type}/${id} is no resource id`);
  await useRowScope(tx, SYSTEM_CONTEXT.scope);
  await tx.exec(`SELECT pg_advisory_xact_lock(hashtextextended('fhir:${type}/${id}', 0))`);
}

/**
 * Locks the current row whoever may see it: a write must tell a hidden resource (answered as
 * absent by `assertVisible`) from a new id, which row-level security on its own cannot.
 */
function lockCurrent(tx: Transaction, type: string, id: string): Promise<Row | undefined> {
  return lockCurrentRow(scopedQueryable(tx, SYSTEM_CONTEXT.scope), type, id);
}

/** A resource the caller may not see is reported as absent, never as forbidden. */
async function assertVisible(
  _rt: FhirRuntime,
  ctx: CallContext,
  q: Queryable,
  row: StoredVersion,
): Promise<void> {
  if (ctx.scope.kind === 'all') return;
  if (!(await visible(q, ctx.scope, row.resource_type, row.id))) {
    throw errors.notFound(`${row.resource_type}/${row.id} is not known`);
  }
}
