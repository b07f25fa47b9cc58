import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Group, OperationOutcome } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import { ObjectNotFoundError, type ObjectStorage } from '../../../platform/storage/port.js';
import { patientCompartmentTypes } from '../definitions/compartment.js';
import { exportJobs, exportPrefix, ownerOf, type ExportJob, type ExportLevel } from '../export/jobs.js';
import { collectParams, parseKickOff } from '../export/params.js';
import { NDJSON, openExportFile, removeExportFiles } from '../export/runner.js';
import { EXPORT_REQUESTED } from '../export/worker.js';
import { callContext, parsePrefer, type FhirAccess, type Query } from '../http/request.js';
import { audit, type CallContext, type FhirRuntime } from '../store/context.js';
import { readResource } from '../store/read.js';

export interface ExportRouteDeps {
  app: FastifyInstance;
  rt: FhirRuntime;
  access: FhirAccess;
  storage: ObjectStorage;
  /** Exports one principal may have pending or running at once. */
  maxActive?: number;
}

export const BULK_DATA_OPERATIONS = {
  system: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
  patient: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
  group: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
};

const PATIENT_REFERENCE = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/;

function informational(text: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'information', code: 'informational', diagnostics: text }],
  };
}

/** The types an export covers: those asked for (validated) or every type the caller may read. */
function exportTypes(rt: FhirRuntime, ctx: CallContext, level: ExportLevel, requested?: string[]): string[] {
  const compartment = new Set(['Patient', ...patientCompartmentTypes()]);
  const candidates = rt.registry.types().filter((t) => level === 'system' || compartment.has(t));
  const { can } = ctx;
  if (!requested) return candidates.filter((t) => !can || can(t, 'read')).sort();
  const outside = requested.filter((t) => !candidates.includes(t));
  if (outside.length > 0) {
    throw errors.badRequest(
      `a ${level}-level export covers patient compartments only; not in one: ${outside.join(', ')}`,
    );
  }
  const denied = requested.filter((t) => can && !can(t, 'read'));
  if (denied.length > 0) throw errors.forbidden(`no read permission for: ${denied.join(', ')}`);
  return requested;
}

/** The member patients of a Group the caller can see (404 when unknown or hidden). */
async function groupMembers(rt: FhirRuntime, ctx: CallContext, id: string): Promise<string[]> {
  if (ctx.can && !ctx.can('Group', 'read')) throw errors.forbidden('no read permission for Group');
  const { resource } = await readResource(rt, ctx, 'Group', id, rt.db, { audit: false }).catch((error) => {
    // A deleted Group is as absent as an unknown one for an export.
    if ((error as { statusCode?: number }).statusCode === 410)
      throw errors.notFound(`Group/${id} is not known`);
    throw error;
  });
  const ids = ((resource as Group).member ?? []).flatMap((m) => {
    const match = PATIENT_REFERENCE.exec(m.entity.reference ?? '');
    return match?.[1] ? [match[1]] : [];
  });
  return [...new Set(ids)];
}

/**
 * FHIR Bulk Data export (async pattern): kick-off at system, Patient and Group level, status
 * polling and cancellation, and the NDJSON files. Jobs, their status and files are only ever
 * visible to the principal that started them; anyone else gets 404.
 */
export function registerExport({ app, rt, access, storage, maxActive = 2 }: ExportRouteDeps): void {
  const guard: preHandlerAsyncHookHandler[] = access.guards ? [access.guards.require('fhir:export')] : [];
  const options = { preHandler: guard, schema: { hide: true } };

  async function kickOff(level: ExportLevel, request: FastifyRequest, reply: FastifyReply, groupId?: string) {
    const ctx = callContext(request, access);
    const prefer = parsePrefer(request);
    if (!prefer.respondAsync) throw errors.badRequest('$export is asynchronous: send Prefer: respond-async');
    const raw = collectParams(
      (request.query ?? {}) as Query,
      request.method === 'POST' ? request.body : undefined,
    );
    const kick = parseKickOff(rt.registry, raw, prefer.handling === 'lenient');
    const types = exportTypes(rt, ctx, level, kick.types);
    const patients = groupId === undefined ? undefined : await groupMembers(rt, ctx, groupId);
    const { events } = rt;
    if (!events) throw errors.unavailable('bulk export needs the event bus');
    const id = randomUUID();
    const owner = ownerOf(ctx.actor);
    await rt.db.transaction(async (tx) => {
      await exportJobs.lockOwner(tx, owner);
      if ((await exportJobs.activeCount(tx, owner)) >= maxActive) {
        throw errors.tooManyRequests(
          `at most ${maxActive} exports may be in progress at once; wait for one or cancel it`,
          [],
          { 'retry-after': '60' },
        );
      }
      await exportJobs.insert(tx, {
        id,
        requestedBy: owner,
        scope: { scope: ctx.scope, types },
        requestUrl: `${rt.baseUrl}${request.url.replace(/^\/fhir/, '')}`,
        params: {
          level,
          ...(groupId !== undefined ? { groupId, patients } : {}),
          ...(kick.since ? { since: kick.since } : {}),
        },
      });
      await events.publish(tx, {
        type: EXPORT_REQUESTED,
        actor: ctx.actor,
        aggregate: { type: 'fhir_export', id },
        payload: { jobId: id },
      });
      await audit(
        rt,
        ctx,
        {
          action: 'fhir.export',
          outcome: 'success',
          ...(groupId !== undefined ? { resource: { type: 'Group', id: groupId } } : {}),
          details: { jobId: id, phase: 'kick-off', level, types: types.length, since: kick.since ?? null },
        },
        tx,
      );
    });
    return reply
      .code(202)
      .header('content-location', `${rt.baseUrl}/$export-status/${id}`)
      .type(FHIR_JSON)
      .send(informational(`export ${id} accepted; poll the Content-Location for its status`));
  }

  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/fhir/$export',
      ...options,
      handler: (req, reply) => kickOff('system', req, reply),
    });
    app.route({
      method,
      url: '/fhir/Patient/$export',
      ...options,
      handler: (req, reply) => kickOff('patient', req, reply),
    });
    app.route<{ Params: { id: string } }>({
      method,
      url: '/fhir/Group/:id/$export',
      ...options,
      handler: (req, reply) => kickOff('group', req, reply, req.params.id),
    });
  }

  async function ownedJob(
    request: FastifyRequest,
    jobId: string,
  ): Promise<{ job: ExportJob; ctx: CallContext }> {
    const ctx = callContext(request, access);
    const job = await exportJobs.owned(rt.db, jobId, ownerOf(ctx.actor));
    if (!job) throw errors.notFound(`export ${jobId} is not known`);
    return { job, ctx };
  }

  app.get<{ Params: { jobId: string } }>('/fhir/$export-status/:jobId', options, async (request, reply) => {
    const { job, ctx } = await ownedJob(request, request.params.jobId);
    if (job.status === 'pending' || job.status === 'running') {
      return reply
        .code(202)
        .header('x-progress', job.progress ?? job.status)
        .header('retry-after', '2')
        .send();
    }
    if (job.status === 'failed' || !job.manifest) {
      const outcome: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', diagnostics: job.error ?? 'the export failed' }],
      };
      return reply.code(500).type(FHIR_JSON).send(outcome);
    }
    await audit(rt, ctx, {
      action: 'fhir.export',
      outcome: 'success',
      details: { jobId: job.id, phase: 'manifest', files: job.manifest.output.length },
    });
    return reply
      .code(200)
      .header('expires', job.expiresAt.toUTCString())
      .type('application/json')
      .send({
        transactionTime: job.manifest.transactionTime,
        request: job.requestUrl,
        requiresAccessToken: true,
        output: job.manifest.output.map((f) => ({
          type: f.type,
          url: `${rt.baseUrl}/$export-file/${job.id}/${f.file}`,
          count: f.count,
        })),
        error: [],
      });
  });

  app.delete<{ Params: { jobId: string } }>(
    '/fhir/$export-status/:jobId',
    options,
    async (request, reply) => {
      const { job, ctx } = await ownedJob(request, request.params.jobId);
      await exportJobs.cancel(rt.db, job.id);
      await removeExportFiles(storage, job.id);
      await audit(rt, ctx, {
        action: 'fhir.export',
        outcome: 'success',
        details: { jobId: job.id, phase: 'cancelled' },
      });
      return reply
        .code(202)
        .type(FHIR_JSON)
        .send(informational(`export ${job.id} cancelled`));
    },
  );

  app.get<{ Params: { jobId: string; file: string } }>(
    '/fhir/$export-file/:jobId/:file',
    options,
    async (request, reply) => {
      const { jobId, file } = request.params;
      const { job, ctx } = await ownedJob(request, jobId);
      // Only names the manifest lists are served: nothing else under the store can be reached.
      const entry =
        job.status === 'completed' ? job.manifest?.output.find((f) => f.file === file) : undefined;
      if (!entry) throw errors.notFound(`export ${jobId} has no file ${file}`);
      const object = await storage.get(`${exportPrefix(job.id)}${entry.file}`).catch((error) => {
        if (error instanceof ObjectNotFoundError)
          throw errors.notFound(`export ${jobId} has no file ${file}`);
        throw error;
      });
      await audit(rt, ctx, {
        action: 'fhir.export.download',
        outcome: 'success',
        patientIds: entry.patients,
        resource: { type: entry.type },
        details: { jobId: job.id, file: entry.file, count: entry.count },
      });
      const chunks: Buffer[] = [];
      for await (const chunk of object.body) chunks.push(chunk as Buffer);
      const ndjson = openExportFile(rt, job.id, entry.file, Buffer.concat(chunks));
      return reply.code(200).type(NDJSON).send(ndjson);
    },
  );
}
