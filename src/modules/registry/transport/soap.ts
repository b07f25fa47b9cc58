import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import soap from 'soap';
import type { Client, IOptions, IWSDLCache, WSDL } from 'soap';
import { soapHttpRequest } from './soap-http.js';
import { classifyError, httpStatusError, protocolError, TransportError } from './errors.js';
import type { RegistryEndpointConfig } from './types.js';

const WSDL_PATH = fileURLToPath(new URL('../../../../reference-data/registry/cdc-iis.wsdl', import.meta.url));

/** Far above any acknowledgement or query response; guards memory against a misbehaving server. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const PERMANENT_FAULTS = new Set(['SecurityFault', 'MessageTooLargeFault']);
const KNOWN_FAULTS = new Set(['UnknownFault', ...PERMANENT_FAULTS]);

/**
 * Our own WSDL cache rather than the library's process-wide singleton: soap clients write their
 * options into the shared WSDL object, so other code loading the same file in this process (the
 * registry simulator in tests) must not share it.
 */
class WsdlCache implements IWSDLCache {
  private readonly entries = new Map<string, WSDL>();
  has(key: string): boolean {
    return this.entries.has(key);
  }
  get(key: string): WSDL {
    const wsdl = this.entries.get(key);
    if (!wsdl) throw new Error(`WSDL ${key} is not cached`);
    return wsdl;
  }
  set(key: string, wsdl: WSDL): void {
    this.entries.set(key, wsdl);
  }
}

const wsdlCache = new WsdlCache();
let firstLoad: Promise<unknown> | undefined;

/** Creates a client for one endpoint; the WSDL is parsed once per process, then served from the cache. */
async function createClient(endpoint: string): Promise<Client> {
  const options: IOptions = {
    endpoint,
    forceSoap12Headers: true,
    wsdlCache,
    // Typed as an axios instance, but the library only ever calls it as `request(config)`.
    request: soapHttpRequest as unknown as IOptions['request'],
  };
  if (!wsdlCache.has(WSDL_PATH)) {
    firstLoad ??= soap.createClientAsync(WSDL_PATH, options).catch((error: unknown) => {
      firstLoad = undefined;
      throw error;
    });
    await firstLoad;
  }
  return soap.createClientAsync(WSDL_PATH, options);
}

interface SoapFault {
  Code?: { Value?: unknown };
  faultcode?: unknown;
  Detail?: unknown;
  detail?: unknown;
}

interface SoapLibraryError {
  root?: { Envelope?: { Body?: { Fault?: SoapFault } } };
  response?: { status?: number; headers?: Record<string, unknown> };
}

function faultError(fault: SoapFault, status: number | undefined, context: string): TransportError {
  const detail = fault.Detail ?? fault.detail;
  const detailNames = detail !== null && typeof detail === 'object' ? Object.keys(detail) : [];
  // The CDC faults are elements of urn:cdc:iisb:2011 inside Detail; the parser reports local names.
  const faultName = detailNames.find((name) => KNOWN_FAULTS.has(name)) ?? detailNames[0];
  const faultBody = faultName ? (detail as Record<string, unknown>)[faultName] : undefined;
  const rawCode =
    faultBody !== null && typeof faultBody === 'object' ? (faultBody as { Code?: unknown }).Code : undefined;
  const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? String(rawCode) : undefined;
  let transient: boolean;
  if (faultName === 'UnknownFault') transient = true;
  else if (faultName !== undefined && PERMANENT_FAULTS.has(faultName)) transient = false;
  else {
    // No CDC fault: SOAP 1.2 Receiver (1.1 Server) blames the service, Sender blames the request.
    const soapCode = String(fault.Code?.Value ?? fault.faultcode ?? '');
    transient = /(Receiver|Server)$/.test(soapCode);
  }
  return new TransportError({
    kind: 'soap-fault',
    transient,
    status,
    faultName: faultName ?? 'SoapFault',
    code,
    message: `${context}: SOAP fault ${faultName ?? '(no detail)'}${code ? ` code ${code}` : ''}`,
  });
}

function mapSoapError(error: unknown, context: string): TransportError {
  if (error instanceof TransportError) return error;
  const soapError = (typeof error === 'object' && error !== null ? error : {}) as SoapLibraryError;
  const status = soapError.response?.status;
  const fault = soapError.root?.Envelope?.Body?.Fault;
  if (fault) return faultError(fault, status, context);
  if (status !== undefined) {
    if (status >= 400) {
      const retryAfter = soapError.response?.headers?.['retry-after'];
      return httpStatusError(status, typeof retryAfter === 'string' ? retryAfter : undefined, context);
    }
    return protocolError(context, `unparseable SOAP response (HTTP ${status})`);
  }
  return classifyError(error, context);
}

/** CDC IIS web service client (urn:cdc:iisb:2011, SOAP 1.2) for one endpoint. */
export class CdcSoapClient {
  private client: Promise<Client> | undefined;
  // Keep-alive agents: one TCP connection is reused for many submissions.
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly config: RegistryEndpointConfig) {
    const agentOptions = { keepAlive: true, maxSockets: Math.max(1, config.maxConcurrent) };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
  }

  async connectivityTest(echo: string, signal?: AbortSignal): Promise<string> {
    return this.call('connectivityTest', { echoBack: echo }, signal, true);
  }

  async submitSingleMessage(hl7: string, signal?: AbortSignal): Promise<string> {
    const credentials = this.config.credentials;
    const auth =
      credentials.kind === 'soap'
        ? {
            username: credentials.username,
            password: credentials.password,
            facilityID: credentials.facilityId,
          }
        : {};
    return this.call('submitSingleMessage', { ...auth, hl7Message: hl7 }, signal, false);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async call(
    operation: 'connectivityTest' | 'submitSingleMessage',
    args: Record<string, unknown>,
    signal: AbortSignal | undefined,
    allowEmpty: boolean,
  ): Promise<string> {
    const context = `registry "${this.config.name}" ${operation}`;
    const client = await this.getClient(context);
    let result: unknown;
    try {
      [result] = (await client[`${operation}Async`](args, {
        timeout: this.config.timeoutMs,
        signal,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        // A redirect would resend the credentials and the message to wherever it points.
        maxRedirects: 0,
        maxContentLength: MAX_RESPONSE_BYTES,
      })) as [unknown];
    } catch (error) {
      throw mapSoapError(error, context);
    }
    const value =
      result !== null && typeof result === 'object' ? (result as { return?: unknown }).return : undefined;
    if (typeof value === 'string' && (allowEmpty || value.length > 0)) return value;
    if (allowEmpty && value == null) return '';
    throw protocolError(context, 'response has no return value');
  }

  private async getClient(context: string): Promise<Client> {
    this.client ??= createClient(this.config.url);
    try {
      return await this.client;
    } catch {
      this.client = undefined;
      throw protocolError(context, 'could not load the CDC IIS service description');
    }
  }
}
