import type { Immunization, Patient } from 'fhir/r4.js';
import type { AppContext } from '../../platform/context.js';
import { errors, IrisError } from '../../platform/http/errors.js';
import type { CallContext, FhirStore } from '../fhir/index.js';
import type { RegistryDispatcher } from './dispatcher.js';
import type { EndpointInput, EndpointRepository, EndpointView } from './endpoints.js';
import { asGatewayError, logQuery, queryHistory, type QueryProfile, type RegistryHistory } from './query.js';
import { queryAudit, reconcilePatient, type PatientReconciliation } from './reconcile.js';
import {
  attemptsOf,
  enqueue,
  getSubmission,
  openWorkCount,
  resolveWorkItem,
  statusSummary,
  submissionsOfImmunization,
  toSubmission,
  workItems,
  type Attempt,
  type StatusCount,
  type Submission,
  type WorkQuery,
} from './submissions.js';
import type { TransportRegistry } from './transport/index.js';

export interface BreakerView {
  endpointId: string;
  name: string;
  state: string;
  openedAt?: string;
}

/** What the registry API does; each method checks the caller's patient scope through the store. */
export class RegistryService {
  constructor(
    private readonly ctx: AppContext,
    private readonly store: FhirStore,
    readonly endpoints: EndpointRepository,
    private readonly transports: TransportRegistry,
    private readonly dispatcher: RegistryDispatcher,
  ) {}

  async createEndpoint(call: CallContext, input: EndpointInput): Promise<EndpointView> {
    const created = await this.endpoints.create(input);
    await this.auditAdmin(call, 'registry.endpoint.created', created);
    await this.dispatcher.refresh();
    return created;
  }

  async updateEndpoint(call: CallContext, id: string, input: EndpointInput): Promise<EndpointView> {
    const updated = await this.endpoints.update(id, input);
    await this.auditAdmin(call, 'registry.endpoint.updated', updated);
    await this.dispatcher.refresh();
    return updated;
  }

  async removeEndpoint(call: CallContext, id: string): Promise<void> {
    const endpoint = await this.endpoints.get(id);
    await this.endpoints.remove(id);
    await this.auditAdmin(call, 'registry.endpoint.deleted', endpoint);
    await this.dispatcher.refresh();
  }

  async testEndpoint(id: string): Promise<{ ok: boolean; latencyMs: number; detail?: string }> {
    const endpoint = await this.endpoints.load(id);
    try {
      return await this.transports.get(endpoint.config).connectivityTest();
    } catch (error) {
      throw asGatewayError(error);
    }
  }

  breakers(): BreakerView[] {
    return this.transports.breakerStates().map((b) => ({
      endpointId: b.endpointId,
      name: b.name,
      state: b.state,
      ...(b.openedAt ? { openedAt: new Date(b.openedAt).toISOString() } : {}),
    }));
  }

  /** Queues the current version of a dose for one or every enabled registry. */
  async submit(call: CallContext, immunizationId: string, endpointId?: string): Promise<Submission[]> {
    const current = await this.store.read(call, 'Immunization', immunizationId);
    const immunization = current.resource as Immunization;
    const targets = endpointId ? [await this.endpoints.get(endpointId)] : await this.endpoints.list();
    const enabled = targets.filter((t) => t.enabled);
    if (enabled.length === 0) throw errors.conflict('no enabled registry endpoint to submit to');
    const queued: Submission[] = [];
    await this.ctx.db.transaction(async (tx) => {
      for (const endpoint of enabled) {
        const row = await enqueue(tx, {
          endpointId: endpoint.id,
          immunizationId,
          immunizationVersion: Number(current.versionId),
          patientId: patientIdOf(immunization),
          operation: 'submit',
          trigger: 'manual',
          requestedBy: call.actor?.id ?? null,
        });
        if (row) queued.push(toSubmission(row));
      }
    });
    for (const s of queued) this.dispatcher.wake(s.endpointId);
    return queued;
  }

  async history(
    call: CallContext,
    immunizationId: string,
  ): Promise<Array<Submission & { attemptLog: Attempt[] }>> {
    await this.assertVisible(call, 'Immunization', immunizationId);
    const rows = await submissionsOfImmunization(this.ctx.db, immunizationId);
    return Promise.all(
      rows.map(async (row) => {
        const submission = toSubmission(row);
        return { ...submission, attemptLog: await attemptsOf(this.ctx.db, row.id) };
      }),
    );
  }

  async summary(
    since?: Date,
  ): Promise<{ counts: StatusCount[]; openWorkItems: number; breakers: BreakerView[] }> {
    const [counts, openWorkItems] = await Promise.all([
      statusSummary(this.ctx.db, since),
      openWorkCount(this.ctx.db),
    ]);
    return { counts, openWorkItems, breakers: this.breakers() };
  }

  async workItems(query: WorkQuery): Promise<{ items: Submission[]; next?: string }> {
    const page = await workItems(this.ctx.db, query);
    return { items: page.rows.map(toSubmission), ...(page.next ? { next: String(page.next) } : {}) };
  }

  /** Sends a rejected or failed dose again, as it is now (the user may have corrected it). */
  async retry(call: CallContext, submissionId: string): Promise<Submission> {
    const old = await getSubmission(this.ctx.db, submissionId);
    if (old.status !== 'rejected' && old.status !== 'failed') {
      throw errors.conflict(`only rejected or failed submissions are retried (this one is ${old.status})`);
    }
    const current = await this.store.read(call, 'Immunization', old.immunization_id);
    const endpoint = await this.endpoints.get(old.endpoint_id);
    if (!endpoint.enabled) throw errors.conflict(`registry endpoint ${endpoint.name} is disabled`);
    let queued: Submission | undefined;
    await this.ctx.db.transaction(async (tx) => {
      const row = await enqueue(tx, {
        endpointId: old.endpoint_id,
        immunizationId: old.immunization_id,
        immunizationVersion: Number(current.versionId),
        patientId: old.patient_id,
        operation: old.operation,
        trigger: 'resubmit',
        requestedBy: call.actor?.id ?? null,
      });
      if (old.work_item === 'open') await resolveWorkItem(tx, old.id, call.actor?.id ?? 'unknown');
      queued = row ? toSubmission(row) : undefined;
    });
    if (!queued) throw errors.conflict('the submission could not be queued again');
    this.dispatcher.wake(old.endpoint_id);
    return queued;
  }

  async resolve(call: CallContext, submissionId: string): Promise<Submission> {
    const row = await getSubmission(this.ctx.db, submissionId);
    await this.assertVisible(call, 'Immunization', row.immunization_id);
    return toSubmission(await resolveWorkItem(this.ctx.db, submissionId, call.actor?.id ?? 'unknown'));
  }

  async query(
    call: CallContext,
    patientId: string,
    endpointId: string,
    profile: QueryProfile,
  ): Promise<RegistryHistory> {
    const patient = (await this.store.read(call, 'Patient', patientId)).resource as Patient;
    const endpoint = await this.endpoints.load(endpointId);
    const history = await queryHistory(endpoint, this.transports.get(endpoint.config), patient, profile);
    await logQuery(this.ctx.db, history, patientId, { matched: 0, imported: 0 }, call.actor?.id ?? null);
    await this.ctx.audit.record(queryAudit(call, patientId, endpoint.name, history, 'registry.query'));
    return history;
  }

  async reconcile(call: CallContext, patientId: string, endpointId: string): Promise<PatientReconciliation> {
    const patient = (await this.store.read(call, 'Patient', patientId)).resource as Patient;
    const endpoint = await this.endpoints.load(endpointId);
    const deps = { db: this.ctx.db, store: this.store, audit: this.ctx.audit };
    return reconcilePatient(deps, call, endpoint, this.transports.get(endpoint.config), patient);
  }

  /** Scope applies before deletion: a 410 means the caller may see the (deleted) record. */
  private async assertVisible(call: CallContext, type: string, id: string): Promise<void> {
    try {
      await this.store.read(call, type, id);
    } catch (error) {
      if (!(error instanceof IrisError && error.statusCode === 410)) throw error;
    }
  }

  private async auditAdmin(call: CallContext, action: string, endpoint: EndpointView): Promise<void> {
    await this.ctx.audit.record({
      action,
      outcome: 'success',
      actor: call.actor,
      resource: { type: 'RegistryEndpoint', id: endpoint.id },
      details: { name: endpoint.name, transport: endpoint.transport, enabled: endpoint.enabled },
      ...(call.requestId ? { requestId: call.requestId } : {}),
      ...(call.sourceIp ? { sourceIp: call.sourceIp } : {}),
    });
  }
}

function patientIdOf(immunization: Immunization): string | null {
  return /^Patient\/([^/]+)$/.exec(immunization.patient?.reference ?? '')?.[1] ?? null;
}
