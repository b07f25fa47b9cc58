import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../platform/context.js';
import type { BackgroundService } from '../../platform/events/port.js';
import type { FhirStore } from '../fhir/index.js';
import { deliver, failureResult, loadSubmissionBatch } from './deliver.js';
import { OutcomeRecorder } from './recorder.js';
import type { Endpoint, EndpointRepository } from './endpoints.js';
import { claim, nextDue, release, type AttemptResult, type SubmissionRow } from './submissions.js';
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

/** A lane claims this many rounds of `maxConcurrent` submissions at once. */
const CLAIM_ROUNDS = 16;

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
    // The previous batch's outcomes are recorded while the next batch is sent; at most one
    // batch is being recorded at a time.
    let recording: Promise<void> = Promise.resolve();
    const recorded = (finish: Promise<void>) =>
      finish
        .catch((err: unknown) => {
          this.ctx.logger.warn({ err, registry: endpoint.name }, 'registry outcomes not recorded');
        })
        // Later submissions of the same doses may have become due: look now.
        .finally(() => lane.wake());
    try {
      while (!lane.stop) {
        try {
          if (transport.policy.state === 'open') {
            await sleep(Math.min(this.options.pollMs, endpoint.config.breaker.halfOpenAfterMs), lane);
            continue;
          }
          // Half-open: one probe at a time until the registry answers again.
          const limit = transport.policy.state === 'half-open' ? 1 : endpoint.maxConcurrent * CLAIM_ROUNDS;
          const rows = await claim(this.ctx.db, endpoint.id, this.owner, limit, this.options.leaseMs);
          if (rows.length === 0) {
            const due = await nextDue(this.ctx.db, endpoint.id);
            const wait = due ? Math.max(10, due.getTime() - Date.now()) : this.options.pollMs;
            await sleep(Math.min(wait, this.options.pollMs), lane);
            continue;
          }
          const batch = await this.sendBatch(lane, transport, rows);
          await recording;
          recording = recorded(batch.recorded);
        } catch (err) {
          this.ctx.logger.warn({ err, registry: endpoint.name }, 'registry lane iteration failed');
          await sleep(this.options.pollMs, lane);
        }
      }
    } finally {
      await recording;
    }
  }

  /**
   * Sends a batch, `maxConcurrent` at a time, and resolves once every row was sent; `recorded`
   * settles once every outcome is recorded and unsent rows are handed back.
   */
  private async sendBatch(
    lane: Lane,
    transport: RegistryTransport,
    rows: SubmissionRow[],
  ): Promise<{ recorded: Promise<void> }> {
    const { endpoint } = lane;
    const parked: string[] = [];
    const data = await loadSubmissionBatch(this.store, rows);
    const recorder = new OutcomeRecorder(
      { db: this.ctx.db, store: this.store, audit: this.ctx.audit, events: this.ctx.events },
      endpoint,
    );
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const row = rows[next++] as SubmissionRow;
        if (lane.stop) {
          parked.push(row.id);
          continue;
        }
        const startedAt = new Date();
        const t0 = performance.now();
        const loaded = data.get(row.id);
        let result: AttemptResult;
        if (!loaded) result = { kind: 'permanent', error: 'the submission was not loaded' };
        else if (loaded instanceof Error) result = failureResult(loaded);
        else result = await deliver(endpoint, transport, row, loaded, startedAt);
        const latencyMs = performance.now() - t0;
        // An open circuit or a full bulkhead never reached the registry: not an attempt.
        if (result.kind === 'transient' && result.backpressure) {
          parked.push(row.id);
          continue;
        }
        const retryDelayMs =
          result.kind === 'transient' ? retryDelay(row.attempts + 1, this.options, result.retryAfterMs) : 0;
        recorder.add({ row, result, startedAt, latencyMs, retryDelayMs });
      }
    };
    const finish = async () => {
      try {
        await recorder.drain();
      } finally {
        await release(
          this.ctx.db,
          parked,
          Math.min(this.options.pollMs, endpoint.config.breaker.halfOpenAfterMs),
        );
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(endpoint.maxConcurrent, rows.length) }, worker));
    } catch (error) {
      await finish().catch(() => undefined);
      throw error;
    }
    // Wrapped: an async function returning a promise would wait for it.
    return { recorded: finish() };
  }
}
