/** Credentials for one registry endpoint, already decrypted by the caller. */
export type RegistryCredentials =
  | { kind: 'soap'; username?: string; password?: string; facilityId?: string }
  | { kind: 'oauth2'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string }
  | { kind: 'hmac'; secret: string }
  | { kind: 'none' };

/** Everything the transport layer needs to talk to one immunization registry (IIS) endpoint. */
export interface RegistryEndpointConfig {
  id: string;
  name: string;
  transport: 'cdc-soap' | 'fhir';
  url: string;
  credentials: RegistryCredentials;
  /** Per attempt; also the longest wait for a rate-limit token. */
  timeoutMs: number;
  /** Requests per second sent to the registry; 0 means unlimited. */
  rateLimitPerSecond: number;
  maxConcurrent: number;
  /** `maxAttempts` counts the first try: 1 means no retry. */
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  breaker: { consecutiveFailures: number; halfOpenAfterMs: number };
}
