import { createHash, randomUUID } from 'node:crypto';
import type { Bundle } from 'fhir/r4.js';
import { canonicalize } from '../../audit/canonical.js';
import { FhirRegistryClient } from './fhir.js';
import type { FhirSubmitResult } from './fhir.js';
import { RegistryPolicy } from './resilience.js';
import type { BreakerState, RegistryPolicyOptions } from './resilience.js';
import { CdcSoapClient } from './soap.js';
import type { RegistryEndpointConfig } from './types.js';

export { TransportError, isTransportError, parseRetryAfter } from './errors.js';
export type { TransportErrorKind, SoapFaultName } from './errors.js';
export { RegistryPolicy } from './resilience.js';
export type { BreakerState, PolicyStats, RegistryPolicyOptions } from './resilience.js';
export { signRequest } from './fhir.js';
export type { FhirSubmitResult } from './fhir.js';
export type { RegistryCredentials, RegistryEndpointConfig } from './types.js';

export interface ConnectivityResult {
  ok: boolean;
  latencyMs: number;
  detail?: string;
}

interface TransportBase {
  readonly policy: RegistryPolicy;
  /** One call through the policy; a failure is reported in the result, never thrown. */
  connectivityTest(): Promise<ConnectivityResult>;
  /** Refuses new calls, waits for running ones, then frees connections. */
  close(): Promise<void>;
}

export interface CdcSoapTransport extends TransportBase {
  readonly kind: 'cdc-soap';
  /** submitSingleMessage; resolves with the registry's HL7 acknowledgement (AA, AE and AR alike). */
  sendHl7(message: string): Promise<string>;
}

export interface FhirTransport extends TransportBase {
  readonly kind: 'fhir';
  /** POSTs a transaction Bundle; a 400/422 OperationOutcome resolves (the registry's rejection). */
  submitBundle(bundle: Bundle, idempotencyKey: string): Promise<FhirSubmitResult>;
  /** All pages of the registry's Immunizations for the patient, as one searchset Bundle. */
  searchImmunizations(id: { system?: string; value: string }): Promise<Bundle>;
}

export type RegistryTransport = CdcSoapTransport | FhirTransport;

/** Pages followed at most for one history search; a patient's history is far smaller. */
const MAX_SEARCH_PAGES = 20;
const MAX_DETAIL_LENGTH = 200;

async function measure(run: () => Promise<string | undefined>): Promise<ConnectivityResult> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  try {
    const detail = await run();
    return detail ? { ok: true, latencyMs: latency(), detail } : { ok: true, latencyMs: latency() };
  } catch (error) {
    return { ok: false, latencyMs: latency(), detail: error instanceof Error ? error.message : 'failed' };
  }
}

function createSoapTransport(config: RegistryEndpointConfig, policy: RegistryPolicy): CdcSoapTransport {
  const client = new CdcSoapClient(config);
  return {
    kind: 'cdc-soap',
    policy,
    connectivityTest: () =>
      measure(async () => {
        const echo = `iris-${randomUUID()}`;
        const answer = await policy.execute((signal) => client.connectivityTest(echo, signal));
        const text = answer.slice(0, MAX_DETAIL_LENGTH);
        return answer.includes(echo) ? text : `answered without the echo: ${text}`;
      }),
    sendHl7: (message) => policy.execute((signal) => client.submitSingleMessage(message, signal)),
    close: async () => {
      policy.dispose();
      await policy.whenIdle();
      client.close();
    },
  };
}

function createFhirTransport(config: RegistryEndpointConfig, policy: RegistryPolicy): FhirTransport {
  const client = new FhirRegistryClient(config);
  return {
    kind: 'fhir',
    policy,
    connectivityTest: () =>
      measure(async () => {
        const statement = await policy.execute((signal) => client.capabilities(signal));
        const software = statement.software
          ? `${statement.software.name} ${statement.software.version ?? ''}`
          : '';
        return `FHIR ${statement.fhirVersion} ${software}`.trim();
      }),
    submitBundle: (bundle, idempotencyKey) =>
      policy.execute((signal) => client.submitBundle(bundle, idempotencyKey, signal)),
    searchImmunizations: async (id) => {
      const first = await policy.execute((signal) => client.searchImmunizations(id, signal));
      const entries = [...(first.entry ?? [])];
      let page: Bundle | undefined = first;
      for (let pages = 1; pages < MAX_SEARCH_PAGES && page; pages++) {
        const current: Bundle = page;
        page = await policy.execute((signal) => client.nextPage(current, signal));
        if (page) entries.push(...(page.entry ?? []));
      }
      const { link: _link, ...rest } = first;
      return { ...rest, entry: entries };
    },
    close: async () => {
      policy.dispose();
      await policy.whenIdle();
    },
  };
}

/** Builds the transport for one endpoint; every call it makes goes through its own RegistryPolicy. */
export function createTransport(
  config: RegistryEndpointConfig,
  options: RegistryPolicyOptions = {},
): RegistryTransport {
  const policy = new RegistryPolicy(config, options);
  return config.transport === 'cdc-soap'
    ? createSoapTransport(config, policy)
    : createFhirTransport(config, policy);
}

/** Identifies a configuration; credentials take part only through the hash. */
function fingerprint(config: RegistryEndpointConfig): string {
  return createHash('sha256').update(canonicalize(config)).digest('hex');
}

export interface BreakerStatus {
  endpointId: string;
  name: string;
  state: BreakerState;
  openedAt?: Date;
}

/**
 * One transport (and so one breaker, bulkhead and rate limit) per endpoint id, shared by all
 * callers in the process. A changed configuration yields a new transport; the old one is closed
 * once its running calls finish.
 */
export class TransportRegistry {
  private readonly entries = new Map<
    string,
    { fingerprint: string; config: RegistryEndpointConfig; transport: RegistryTransport }
  >();
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    private readonly factory: (config: RegistryEndpointConfig) => RegistryTransport = createTransport,
  ) {}

  get(config: RegistryEndpointConfig): RegistryTransport {
    const print = fingerprint(config);
    const entry = this.entries.get(config.id);
    if (entry?.fingerprint === print) return entry.transport;
    if (entry) this.retire(entry.transport);
    const transport = this.factory(config);
    this.entries.set(config.id, { fingerprint: print, config, transport });
    return transport;
  }

  /** Drops an endpoint (deleted or disabled); its running calls still finish. */
  remove(endpointId: string): void {
    const entry = this.entries.get(endpointId);
    if (!entry) return;
    this.entries.delete(endpointId);
    this.retire(entry.transport);
  }

  breakerStates(): BreakerStatus[] {
    return [...this.entries.entries()].map(([endpointId, { config, transport }]) => {
      const stats = transport.policy.stats();
      const status: BreakerStatus = { endpointId, name: config.name, state: transport.policy.state };
      if (stats.openedAt) status.openedAt = stats.openedAt;
      return status;
    });
  }

  async close(): Promise<void> {
    for (const endpointId of [...this.entries.keys()]) this.remove(endpointId);
    await Promise.all([...this.retiring]);
  }

  private retire(transport: RegistryTransport): void {
    const closing = transport.close().finally(() => this.retiring.delete(closing));
    this.retiring.add(closing);
  }
}
