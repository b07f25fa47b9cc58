// Public types of the immunization registry simulator. The simulator is a test tool that plays an
// independent party: nothing here is shared with the product under src/.

export interface SimCredentials {
  username: string;
  password: string;
  /** When set, submitSingleMessage must also carry this facilityID. */
  facilityId?: string;
}

export interface SimOAuth {
  clientId: string;
  clientSecret: string;
}

export interface SimOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** SOAP credentials; when absent every username/password is accepted. */
  credentials?: SimCredentials;
  /** FHIR OAuth2 client credentials; when set, FHIR calls need a Bearer token from /oauth/token. */
  oauth?: SimOAuth;
  /** FHIR request signing secret; when set, FHIR calls need X-Signature headers. */
  hmacSecret?: string;
  /** Largest accepted HL7 message in bytes (default 64 KiB); larger → MessageTooLargeFault. */
  maxMessageBytes?: number;
  /** Lifetime of issued OAuth tokens (default 3600 s). */
  tokenTtlSeconds?: number;
  /** How many message control ids / idempotency keys are remembered (default 100 000, oldest forgotten first). */
  maxRememberedMessages?: number;
  /** How many doses are kept (default 500 000, oldest evicted first). */
  maxDoses?: number;
  /** Initial fault configuration. */
  faults?: Partial<Faults>;
}

export interface Faults {
  /** Added delay before answering: a fixed number of ms or a uniform [min, max] range. */
  latencyMs: number | [number, number];
  /** Share of requests answered 503 (0..1). */
  http5xxRate: number;
  /** Share of requests answered 429 (0..1). */
  http429Rate: number;
  /** Retry-After value sent with injected 429s. */
  retryAfterSeconds: number;
  /** Share of requests whose socket is destroyed without an answer (0..1). */
  dropRate: number;
  /** Registry down: every SOAP/FHIR request answers 503, or is dropped when outageMode is 'drop'. */
  outage: boolean;
  outageMode: 'http503' | 'drop';
  /** Forces the acknowledgement code of every VXU (null: decided by validation). */
  forceAck: 'AE' | 'AR' | null;
  /** Share of SOAP calls answered with an UnknownFault (0..1). */
  soapUnknownFaultRate: number;
  /** Seed of the deterministic PRNG behind the rates; null uses Math.random. */
  seed: number | null;
}

export interface SimStats {
  received: number;
  accepted: number;
  acceptedWithErrors: number;
  rejected: number;
  duplicateControlIds: number;
  queries: number;
  faultsInjected: Record<string, number>;
  storedDoses: number;
}

export type DoseAction = 'A' | 'U' | 'D';

export interface StoredDose {
  /** Simulator-assigned id (also the FHIR Immunization id). */
  id: string;
  /** MSH-10 of the message (or the FHIR idempotency key / request id) that stored the dose. */
  controlId: string;
  patientId: string;
  /** PID-3 assigning authority, or the FHIR identifier system. */
  assigningAuthority: string;
  patientName: { family: string; given: string };
  /** YYYYMMDD */
  dob: string;
  cvx: string;
  /** Administration date, YYYYMMDD */
  date: string;
  lot: string;
  mvx: string;
  historical: boolean;
  action: DoseAction;
  /** ORC-3 (or the FHIR Immunization identifier); empty when the sender gave none. */
  fillerOrder: string;
  /** RXA-20 completion status (CP, RE, NA, PA). */
  completionStatus: string;
  route: string;
  site: string;
  source: 'soap' | 'fhir';
  receivedAt: string;
}

export interface RegistrySim {
  url: string;
  soapUrl: string;
  fhirUrl: string;
  tokenUrl: string;
  stats(): SimStats;
  setFaults(f: Partial<Faults>): void;
  /** Forgets doses, patients, control ids, tokens and counters; faults go back to none. */
  reset(): void;
  doses(): StoredDose[];
  close(): Promise<void>;
}
