import { hash } from 'node:crypto';
import type { AuditOutcome, AuditRecord } from '../../platform/audit/port.js';
import { canonicalize } from './canonical.js';

/** Version of the hashed entry layout; a new layout gets a new number, old entries keep theirs. */
export const ENTRY_VERSION = 1;

/** The chain hash before the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(['success', 'failure', 'denied']);
const MAX_TEXT = 512;

/**
 * An entry as it waits in the intake table: every field fixed, none absent, so that the hashed
 * form has one shape. `time` is when the action happened (the caller's clock).
 */
export interface IntakeEntry {
  time: string;
  action: string;
  outcome: AuditOutcome;
  actor: { type: string; id: string } | null;
  patientIds: string[];
  resource: {
    type: string;
    id: string | null;
    versionId: string | null;
    previousVersionId: string | null;
  } | null;
  purposeOfUse: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown> | null;
}

/** The hashed entry: the intake entry plus its place in the chain. */
export interface ChainedEntry extends IntakeEntry {
  v: number;
  seq: number;
  /** When the sequencer chained it: never decreases along the chain (partition key). */
  recordedAt: string;
  prevHash: string;
}

export class InvalidAuditRecordError extends Error {
  override readonly name = 'InvalidAuditRecordError';
}

function text(value: string | undefined, field: string, max = MAX_TEXT): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new InvalidAuditRecordError(`${field} must be a string`);
  // NUL cannot be stored in PostgreSQL text or jsonb.
  const clean = value.replaceAll('\u0000', '');
  return clean.length > max ? clean.slice(0, max) : clean;
}

/** Validates and normalises a record from the port into the fixed intake shape. */
export function normalizeRecord(record: AuditRecord, time: Date): IntakeEntry {
  if (typeof record.action !== 'string' || !/^[a-z0-9_$-]+(\.[a-z0-9_$-]+)*$/i.test(record.action)) {
    throw new InvalidAuditRecordError('action must be a dotted name such as fhir.read');
  }
  if (!OUTCOMES.has(record.outcome))
    throw new InvalidAuditRecordError('outcome must be success, failure or denied');
  const patientIds = [...new Set((record.patientIds ?? []).map((p) => text(String(p), 'patientIds')!))];
  let details: Record<string, unknown> | null = null;
  if (record.details !== undefined && record.details !== null) {
    try {
      // Round-trip through the canonical form: what cannot be represented fails here, not in the verifier.
      details = JSON.parse(canonicalize(record.details).replaceAll('\\u0000', '')) as Record<string, unknown>;
    } catch (error) {
      throw new InvalidAuditRecordError(`details are not JSON-representable: ${(error as Error).message}`);
    }
  }
  return {
    time: time.toISOString(),
    action: record.action,
    outcome: record.outcome,
    actor: record.actor ? { type: record.actor.type, id: text(record.actor.id, 'actor.id')! } : null,
    patientIds,
    resource: record.resource
      ? {
          type: text(record.resource.type, 'resource.type')!,
          id: text(record.resource.id, 'resource.id'),
          versionId: text(record.resource.versionId, 'resource.versionId'),
          previousVersionId: text(record.resource.previousVersionId, 'resource.previousVersionId'),
        }
      : null,
    purposeOfUse: text(record.purposeOfUse, 'purposeOfUse', 64),
    sourceIp: text(record.sourceIp, 'sourceIp', 64),
    userAgent: text(record.userAgent, 'userAgent'),
    requestId: text(record.requestId, 'requestId', 128),
    details,
  };
}

export interface Chained {
  canonical: string;
  hash: string;
}

/** Hex SHA-256 of a canonical entry's UTF-8 bytes: the chain hash. */
export function hashCanonical(canonical: string): string {
  return hash('sha256', canonical, 'hex');
}

/**
 * An intake entry pre-serialised in RFC 8785 form around the three fields only the sequencer
 * knows. The top-level keys of a {@link ChainedEntry} are fixed, so their canonical order is
 * too: action, actor, details, outcome, patientIds | prevHash | purposeOfUse | recordedAt |
 * requestId, resource | seq | sourceIp, time, userAgent | v. Callers pay for canonicalization
 * when they record; the sequencer only concatenates and hashes, which keeps the one lock short.
 */
export type CanonicalParts = [
  before: string,
  purposeOfUse: string,
  requestAndResource: string,
  after: string,
];

// Serialisers for the fixed-shape fields; JSON.stringify of a string is its RFC 8785 form. Only
// `details` (free-form) goes through the general canonicalizer. Tests hold this to canonicalize().
const q = (value: string | null): string => (value === null ? 'null' : JSON.stringify(value));

export function canonicalParts(e: IntakeEntry): CanonicalParts {
  const actor = e.actor === null ? 'null' : `{"id":${q(e.actor.id)},"type":${q(e.actor.type)}}`;
  const resource =
    e.resource === null
      ? 'null'
      : `{"id":${q(e.resource.id)},"previousVersionId":${q(e.resource.previousVersionId)},` +
        `"type":${q(e.resource.type)},"versionId":${q(e.resource.versionId)}}`;
  return [
    `"action":${q(e.action)},"actor":${actor},"details":${e.details === null ? 'null' : canonicalize(e.details)},` +
      `"outcome":${q(e.outcome)},"patientIds":${JSON.stringify(e.patientIds)}`,
    `"purposeOfUse":${q(e.purposeOfUse)}`,
    `"requestId":${q(e.requestId)},"resource":${resource}`,
    `"sourceIp":${q(e.sourceIp)},"time":${q(e.time)},"userAgent":${q(e.userAgent)}`,
  ];
}

// Canonical JSON text never holds a raw control character (they are escaped), so U+0001 can
// separate the parts in the intake row without any escaping work.
const PART_SEPARATOR = '\u0001';

export function encodeParts(parts: CanonicalParts): string {
  return parts.join(PART_SEPARATOR);
}

export function decodeParts(body: string): CanonicalParts {
  const parts = body.split(PART_SEPARATOR);
  if (parts.length !== 4) throw new Error('malformed audit intake row');
  return parts as CanonicalParts;
}

/** Places a pre-serialised entry after `prevHash` at `seq`; the hash covers every field, `prevHash` included. */
export function chainParts(
  parts: CanonicalParts,
  seq: number,
  recordedAt: string,
  prevHash: string,
): Chained {
  const canonical =
    `{${parts[0]},"prevHash":${JSON.stringify(prevHash)},${parts[1]},"recordedAt":${JSON.stringify(recordedAt)},` +
    `${parts[2]},"seq":${seq},${parts[3]},"v":${ENTRY_VERSION}}`;
  return { canonical, hash: hashCanonical(canonical) };
}

/** The same entry through the general canonicalizer: the reference the fast path is tested against. */
export function chainEntry(intake: IntakeEntry, seq: number, recordedAt: string, prevHash: string): Chained {
  const entry: ChainedEntry = { ...intake, v: ENTRY_VERSION, seq, recordedAt, prevHash };
  const canonical = canonicalize(entry);
  return { canonical, hash: hashCanonical(canonical) };
}
