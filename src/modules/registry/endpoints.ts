import { randomUUID } from 'node:crypto';
import type { Keyring } from '../../platform/crypto/keyring.js';
import { openSecret, sealSecret } from '../../platform/crypto/sealed.js';
import type { Queryable } from '../../platform/db/types.js';
import { errors } from '../../platform/http/errors.js';
import type { RegistryCredentials, RegistryEndpointConfig } from './transport/types.js';

/** What an administrator sends to create or replace an endpoint. */
export interface EndpointInput {
  name: string;
  transport: 'cdc-soap' | 'fhir';
  url: string;
  sender: { application?: string; facility: string };
  receiver?: { application?: string; facility?: string };
  processingId?: 'P' | 'T' | 'D';
  credentials?: RegistryCredentials;
  timeoutMs?: number;
  rateLimitPerSecond?: number;
  maxConcurrent?: number;
  maxAttempts?: number;
  enabled?: boolean;
}

/** An endpoint as the API shows it: credentials are described, never returned. */
export interface EndpointView {
  id: string;
  name: string;
  transport: 'cdc-soap' | 'fhir';
  url: string;
  sender: { application: string; facility: string };
  receiver: { application: string; facility: string };
  processingId: 'P' | 'T' | 'D';
  credentials: { kind: RegistryCredentials['kind']; configured: boolean };
  timeoutMs: number;
  rateLimitPerSecond: number;
  maxConcurrent: number;
  maxAttempts: number;
  enabled: boolean;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** A decrypted endpoint for the transports; lives in memory only. */
export interface Endpoint extends EndpointView {
  config: RegistryEndpointConfig;
}

interface EndpointRow {
  id: string;
  name: string;
  transport: 'cdc-soap' | 'fhir';
  url: string;
  sender_application: string;
  sender_facility: string;
  receiver_application: string;
  receiver_facility: string;
  processing_id: 'P' | 'T' | 'D';
  credentials_kind: RegistryCredentials['kind'];
  credentials_kid: string | null;
  credentials_sealed: string | null;
  timeout_ms: number;
  rate_limit_per_second: number;
  max_concurrent: number;
  max_attempts: number;
  enabled: boolean;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

/** Retries inside one call stay short; the dispatcher's backoff handles long outages. */
const CALL_RETRY = { maxAttempts: 2, baseDelayMs: 200, maxDelayMs: 2_000 };

export interface BreakerSettings {
  consecutiveFailures: number;
  halfOpenAfterMs: number;
}

function context(id: string): string {
  return `registry-endpoint:${id}`;
}

function checkUrl(url: string, field: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw errors.validation(`${field} must be an absolute URL`, [
      { location: `/${field}`, message: 'not a URL' },
    ]);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw errors.validation(`${field} must be an http(s) URL`, [
      { location: `/${field}`, message: parsed.protocol },
    ]);
  }
  if (parsed.username || parsed.password) {
    throw errors.validation(`${field} must not carry credentials; use the credentials field`);
  }
}

function checkCredentials(transport: EndpointInput['transport'], credentials: RegistryCredentials): void {
  const allowed = transport === 'cdc-soap' ? ['soap', 'none'] : ['oauth2', 'hmac', 'none'];
  if (!allowed.includes(credentials.kind)) {
    throw errors.validation(`a ${transport} endpoint takes ${allowed.join(' or ')} credentials`, [
      { location: '/credentials/kind', message: `got ${credentials.kind}` },
    ]);
  }
  if (credentials.kind === 'oauth2') checkUrl(credentials.tokenUrl, 'credentials/tokenUrl');
}

function view(row: EndpointRow): EndpointView {
  return {
    id: row.id,
    name: row.name,
    transport: row.transport,
    url: row.url,
    sender: { application: row.sender_application, facility: row.sender_facility },
    receiver: { application: row.receiver_application, facility: row.receiver_facility },
    processingId: row.processing_id,
    credentials: { kind: row.credentials_kind, configured: row.credentials_sealed !== null },
    timeoutMs: row.timeout_ms,
    rateLimitPerSecond: row.rate_limit_per_second,
    maxConcurrent: row.max_concurrent,
    maxAttempts: row.max_attempts,
    enabled: row.enabled,
    revision: row.revision,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function decrypt(keyring: Keyring, row: EndpointRow, breaker: BreakerSettings): Endpoint {
  const credentials: RegistryCredentials =
    row.credentials_sealed && row.credentials_kid
      ? (JSON.parse(
          openSecret(keyring, { kid: row.credentials_kid, value: row.credentials_sealed }, context(row.id)),
        ) as RegistryCredentials)
      : { kind: 'none' };
  return {
    ...view(row),
    config: {
      id: row.id,
      name: row.name,
      transport: row.transport,
      url: row.url,
      credentials,
      timeoutMs: row.timeout_ms,
      rateLimitPerSecond: row.rate_limit_per_second,
      maxConcurrent: row.max_concurrent,
      retry: CALL_RETRY,
      breaker,
    },
  };
}

/** Registry endpoints: stored with sealed credentials, decrypted only for the transports. */
export class EndpointRepository {
  constructor(
    private readonly db: Queryable,
    private readonly keyring: Keyring,
    private readonly breaker: BreakerSettings,
  ) {}

  async list(): Promise<EndpointView[]> {
    const result = await this.db.query<EndpointRow>('SELECT * FROM registry_endpoints ORDER BY name');
    return result.rows.map(view);
  }

  async get(id: string): Promise<EndpointView> {
    return view(await this.row(id));
  }

  /** Decrypted endpoints that take submissions. */
  async enabled(q: Queryable = this.db): Promise<Endpoint[]> {
    const result = await q.query<EndpointRow>('SELECT * FROM registry_endpoints WHERE enabled ORDER BY name');
    return result.rows.map((row) => decrypt(this.keyring, row, this.breaker));
  }

  /** Ids of the enabled endpoints (the hot path of queueing: no decryption). */
  async enabledIds(q: Queryable = this.db): Promise<string[]> {
    const result = await q.query<{ id: string }>(
      'SELECT id FROM registry_endpoints WHERE enabled ORDER BY name',
      [],
      {
        name: 'registry_enabled_ids',
      },
    );
    return result.rows.map((r) => r.id);
  }

  async load(id: string): Promise<Endpoint> {
    return decrypt(this.keyring, await this.row(id), this.breaker);
  }

  async create(input: EndpointInput): Promise<EndpointView> {
    const id = randomUUID();
    const values = this.values(id, input);
    try {
      const result = await this.db.query<EndpointRow>(
        `INSERT INTO registry_endpoints (id, name, transport, url, sender_application, sender_facility,
           receiver_application, receiver_facility, processing_id, credentials_kind, credentials_kid,
           credentials_sealed, timeout_ms, rate_limit_per_second, max_concurrent, max_attempts, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING *`,
        [id, ...values],
      );
      return view(result.rows[0] as EndpointRow);
    } catch (error) {
      throw this.translate(error, input.name);
    }
  }

  /** Replaces an endpoint's settings; omitted credentials keep the stored ones. */
  async update(id: string, input: EndpointInput): Promise<EndpointView> {
    const current = await this.row(id);
    const values = this.values(id, input);
    const keepCredentials = input.credentials === undefined && current.credentials_kind !== 'none';
    if (keepCredentials) {
      checkCredentials(input.transport, { kind: current.credentials_kind } as RegistryCredentials);
      values[8] = current.credentials_kind;
      values[9] = current.credentials_kid;
      values[10] = current.credentials_sealed;
    }
    try {
      const result = await this.db.query<EndpointRow>(
        `UPDATE registry_endpoints SET name = $2, transport = $3, url = $4, sender_application = $5,
           sender_facility = $6, receiver_application = $7, receiver_facility = $8, processing_id = $9,
           credentials_kind = $10, credentials_kid = $11, credentials_sealed = $12, timeout_ms = $13,
           rate_limit_per_second = $14, max_concurrent = $15, max_attempts = $16, enabled = $17,
           revision = revision + 1, updated_at = now()
         WHERE id = $1 RETURNING *`,
        [id, ...values],
      );
      return view(result.rows[0] as EndpointRow);
    } catch (error) {
      throw this.translate(error, input.name);
    }
  }

  /** Endpoints with submissions are disabled, not deleted: their history must stay readable. */
  async remove(id: string): Promise<void> {
    await this.row(id);
    const used = await this.db.query(
      'SELECT 1 FROM registry_submissions WHERE endpoint_id = $1 UNION ALL SELECT 1 FROM registry_queries WHERE endpoint_id = $1 LIMIT 1',
      [id],
    );
    if (used.rows.length > 0) {
      throw errors.conflict('the endpoint has submissions or queries; disable it instead of deleting it');
    }
    await this.db.query('DELETE FROM registry_endpoints WHERE id = $1', [id]);
  }

  private async row(id: string): Promise<EndpointRow> {
    const result = await this.db.query<EndpointRow>('SELECT * FROM registry_endpoints WHERE id::text = $1', [
      id,
    ]);
    const row = result.rows[0];
    if (!row) throw errors.notFound(`registry endpoint ${id} is not known`);
    return row;
  }

  private values(id: string, input: EndpointInput): unknown[] {
    checkUrl(input.url, 'url');
    const credentials = input.credentials ?? { kind: 'none' };
    checkCredentials(input.transport, credentials);
    const sealed =
      credentials.kind === 'none' ? null : sealSecret(this.keyring, JSON.stringify(credentials), context(id));
    return [
      input.name,
      input.transport,
      input.url,
      input.sender.application ?? 'IRIS',
      input.sender.facility,
      input.receiver?.application ?? '',
      input.receiver?.facility ?? '',
      input.processingId ?? 'P',
      credentials.kind,
      sealed?.kid ?? null,
      sealed?.value ?? null,
      input.timeoutMs ?? 10_000,
      input.rateLimitPerSecond ?? 50,
      input.maxConcurrent ?? 8,
      input.maxAttempts ?? 12,
      input.enabled ?? true,
    ];
  }

  private translate(error: unknown, name: string): unknown {
    if ((error as { code?: string }).code === '23505') {
      return errors.conflict(`a registry endpoint named "${name}" already exists`);
    }
    return error;
  }
}
