import { hostname } from 'node:os';
import type { Patient } from 'fhir/r4.js';
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../platform/context.js';
import type { BackgroundService } from '../../platform/events/port.js';
import { SYSTEM_CONTEXT, type FhirStore } from '../fhir/index.js';
import { deliver, failureResult, loadSubmissionData } from './deliver.js';
import type { Endpoint, EndpointRepository } from './endpoints.js';
import { registryProvenance } from './provenance.js';
import { claim, nextDue, release, settle, type AttemptResult, type SubmissionRow } from './submissions.js';
import type { RegistryTransport, TransportRegistry } from './transport/index.js';

export interface DispatchOptions {
  /** First retry delay after a transient failure; doubles per attempt, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Longest sleep when nothing is due (other processes may queue work meanwhile). */
  pollMs: number;
  /** How long a leased submission stays with this process before others may take it. */
  leaseMs: number;
  /** How often enabled endpoints are re-read (settings changed by another process). */
  refreshMs: number;
}

export const DEFAULT_DISPATCH: DispatchOptions = {
  backoffBaseMs: 2_000,
  backoffMaxMs: 300_000,
  pollMs: 1_000,
  leaseMs: 60_000,
  refreshMs: 5_000,
};

/** Full jitter on an exponential step, never below what the registry asked for (Retry-After). */
export function retryDelay(attempts: number, options: DispatchOptions, retryAfterMs = 0): number {
  const step = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.max(retryAfterMs, Math.round(step / 2 + (Math.random() * step) / 2));
}

/** Outcomes recorded per transaction by one sending worker. */
const RECORD_CHUNK = 8;

interface Outcome {
  row: SubmissionRow;
  result: AttemptResult;
  startedAt: Date;
  latencyMs: number;
}

interface Lane {
  endpoint: Endpoint;
  running: Promise<void>;
  wake: () => void;
  stop: boolean;
}

/** Ends a lane's loop (waking it if asleep) and waits for its work in flight. */
function stopLane(lane: Lane): Promise<void> {
  lane.stop = true;
  lane.wake();
  return lane.running;
}

const sleep = (ms: number, lane: { wake: () => void }) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    lane.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });

/**
 * Sends queued submissions to each enabled registry: one lane per registry, so an outage of
 * one never delays another. Lanes lease due rows (SKIP LOCKED, so several workers share the
 * queue), send up to `maxConcurrent` at once through the registry's policy, and record every
 * outcome, its Provenance, its audit entry and its event, a few outcomes per transaction.
 */
export class RegistryDispatcher implements BackgroundService {
  readonly name = 'registry-dispatcher';
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly lanes = new Map<string, Lane>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly store: FhirStore,
    private readonly endpoints: EndpointRepository,
    private readonly transports: TransportRegistry,
    private readonly options: DispatchOptions = DEFAULT_DISPATCH,
  ) {}

  async start(): Promise<void> {
    this.running = true;
    await this.refresh();
    this.refreshTimer = setInterval(() => {
      this.refresh().catch((err: unknown) =>
        this.ctx.logger.warn({ err }, 'registry endpoints refresh failed'),
      );
    }, this.options.refreshMs);
    this.refreshTimer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.refreshTimer);
    await Promise.all([...this.lanes.values()].map(stopLane));
    this.lanes.clear();
  }

  /** New work was queued in this process: look now instead of at the next poll. */
  wake(endpointId?: string): void {
    for (const lane of this.lanes.values()) if (!endpointId || lane.endpoint.id === endpointId) lane.wake();
  }

  /** Re-reads the enabled endpoints: starts, restarts (changed settings) and stops lanes. */
  async refresh(): Promise<void> {
    if (!this.running) return;
    const enabled = await this.endpoints.enabled();
    const seen = new Set<string>();
    for (const endpoint of enabled) {
      seen.add(endpoint.id);
      const lane = this.lanes.get(endpoint.id);
      if (lane && lane.endpoint.revision === endpoint.revision) continue;
      if (lane) await stopLane(lane);
      this.startLane(endpoint);
    }
    for (const [id, lane] of this.lanes) {
      if (seen.has(id)) continue;
      await stopLane(lane);
      this.lanes.delete(id);
    }
  }

  private startLane(endpoint: Endpoint): void {
    const lane: Lane = { endpoint, running: Promise.resolve(), wake: () => undefined, stop: false };
    lane.running = this.runLane(lane).catch((err: unknown) => {
      this.ctx.logger.error({ err, registry: endpoint.name }, 'registry lane stopped on an error');
    });
    this.lanes.set(endpoint.id, lane);
  }

  private async runLane(lane: Lane): Promise<void> {
    const { endpoint } = lane;
    const transport = this.transports.get(endpoint.config);
    while (!lane.stop) {
      try {
        if (transport.policy.state === 'open') {
          await sleep(Math.min(this.options.pollMs, endpoint.config.breaker.halfOpenAfterMs), lane);
          continue;
        }
        // Half-open: one probe at a time until the registry answers again.
        const limit = transport.policy.state === 'half-open' ? 1 : endpoint.maxConcurrent * 4;
        const rows = await claim(this.ctx.db, endpoint.id, this.owner, limit, this.options.leaseMs);
        if (rows.length === 0) {
          const due = await nextDue(this.ctx.db, endpoint.id);
          const wait = due ? Math.max(10, due.getTime() - Date.now()) : this.options.pollMs;
          await sleep(Math.min(wait, this.options.pollMs), lane);
          continue;
        }
        await this.sendBatch(lane, transport, rows);
      } catch (err) {
        this.ctx.logger.warn({ err, registry: endpoint.name }, 'registry lane iteration failed');
        await sleep(this.options.pollMs, lane);
      }
    }
  }

  private async sendBatch(lane: Lane, transport: RegistryTransport, rows: SubmissionRow[]): Promise<void> {
    const { endpoint } = lane;
    const parked: string[] = [];
    const patients = new Map<string, Promise<Patient>>();
    let next = 0;
    // Each worker records its own outcomes a few at a time, so sending and recording overlap
    // and, on a PostgreSQL server, several recording transactions run at once.
    const worker = async () => {
      let done: Outcome[] = [];
      while (next < rows.length) {
        const row = rows[next++] as SubmissionRow;
        if (lane.stop) {
          parked.push(row.id);
          continue;
        }
        const startedAt = new Date();
        const t0 = performance.now();
        let result: AttemptResult;
        try {
          const data = await loadSubmissionData(this.store, row, patients);
          result = await deliver(endpoint, transport, row, data, startedAt);
        } catch (error) {
          result = failureResult(error);
        }
        const latencyMs = performance.now() - t0;
        // An open circuit or a full bulkhead never reached the registry: not an attempt.
        if (result.kind === 'transient' && result.backpressure) parked.push(row.id);
        else done.push({ row, result, startedAt, latencyMs });
        if (done.length >= RECORD_CHUNK) {
          await this.record(endpoint, done);
          done = [];
        }
      }
      if (done.length > 0) await this.record(endpoint, done);
    };
    await Promise.all(Array.from({ length: Math.min(endpoint.maxConcurrent, rows.length) }, worker));
    await release(
      this.ctx.db,
      parked,
      Math.min(this.options.pollMs, endpoint.config.breaker.halfOpenAfterMs),
    );
  }

  private async record(endpoint: Endpoint, results: Outcome[]): Promise<void> {
    await this.ctx.db.transaction(async (tx) => {
      for (const { row, result, startedAt, latencyMs } of results) {
        const retryDelayMs =
          result.kind === 'transient' ? retryDelay(row.attempts + 1, this.options, result.retryAfterMs) : 0;
        const status = await settle(tx, row, result, {
          startedAt,
          latencyMs,
          retryDelayMs,
          maxAttempts: endpoint.maxAttempts,
        });
        if (status === 'pending') continue;
        const answered = result.kind === 'answered' ? result : undefined;
        await this.store.create(
          SYSTEM_CONTEXT,
          tx,
          registryProvenance(
            endpoint,
            row,
            status,
            answered?.ackCode ?? null,
            answered?.issues ?? [],
            new Date(),
          ),
          { trusted: true },
        );
        await this.ctx.audit.record(
          {
            action: row.operation === 'delete' ? 'registry.retract' : 'registry.submit',
            outcome: status === 'accepted' || status === 'accepted_with_warnings' ? 'success' : 'failure',
            actor: SYSTEM_CONTEXT.actor,
            ...(row.patient_id ? { patientIds: [row.patient_id] } : {}),
            resource: {
              type: 'Immunization',
              id: row.immunization_id,
              versionId: String(row.immunization_version),
            },
            details: {
              registry: endpoint.name,
              submission: row.id,
              status,
              ackCode: answered?.ackCode ?? null,
            },
          },
          tx,
        );
        await this.ctx.events.publish(tx, {
          type: `registry.submission.${status.replace(/_/g, '-')}`,
          actor: SYSTEM_CONTEXT.actor,
          aggregate: { type: 'Immunization', id: row.immunization_id },
          payload: { submissionId: row.id, endpointId: endpoint.id, status, operation: row.operation },
        });
      }
    });
  }
}
