import type { Queryable } from '../../platform/db/types.js';
import type { ChainedEntry } from './chain.js';
import { whereClause, type AuditQuery } from './query.js';

/** What the audit module needs to know about user accounts; the identity module implements it. */
export interface DirectoryUser {
  id: string;
  username: string;
  active: boolean;
  roles: string[];
  mfaEnrolled: boolean;
  lastLoginAt: Date | null;
  createdAt: Date;
}

export interface UserDirectory {
  listUsers(): Promise<DirectoryUser[]>;
}

export interface Report {
  name: string;
  generatedAt: string;
  parameters: Record<string, unknown>;
  columns: string[];
  rows: Array<Record<string, string | number | boolean | null>>;
  summary?: Record<string, number | string>;
}

/** Actions that count as privileged for the privileged-actions report. */
export const PRIVILEGED_ACTIONS = [
  'admin.*',
  'role.*',
  'user.created',
  'user.updated',
  'user.disabled',
  'user.deleted',
  'user.unlocked',
  'user.password_reset',
  'user.role_granted',
  'user.role_revoked',
  'key.*',
  'keys.*',
  'config.*',
  'break_glass.*',
  'session.revoked',
  'mfa.*',
  'audit.*',
  'export.*',
];

const FAILED_LOGIN_ACTIONS = ['auth.login', 'user.login_failed', 'user.locked'];

export interface Period {
  from: Date;
  to: Date;
}

const MAX_ROWS = 50_000;

async function entries(db: Queryable, q: AuditQuery): Promise<Array<{ seq: number; doc: ChainedEntry }>> {
  const params: unknown[] = [];
  const where = whereClause(q, params);
  params.push(MAX_ROWS);
  const { rows } = await db.query<{ seq: number; doc: ChainedEntry }>(
    `SELECT seq, doc FROM audit_log WHERE ${where} ORDER BY seq LIMIT $${params.length}`,
    params,
  );
  return rows;
}

function base(doc: ChainedEntry, seq: number) {
  return {
    seq,
    recordedAt: doc.recordedAt,
    time: doc.time,
    actorType: doc.actor?.type ?? null,
    actorId: doc.actor?.id ?? null,
    action: doc.action,
    outcome: doc.outcome,
  };
}

function resourceRef(doc: ChainedEntry): string | null {
  if (!doc.resource) return null;
  return doc.resource.id ? `${doc.resource.type}/${doc.resource.id}` : doc.resource.type;
}

/** §164.528 accounting of disclosures: who accessed which of the patient's PHI, when and why. */
export async function disclosuresReport(db: Queryable, patientId: string, period: Period): Promise<Report> {
  const rows = await entries(db, { patient: patientId, from: period.from, to: period.to });
  return {
    name: 'accounting-of-disclosures',
    generatedAt: new Date().toISOString(),
    parameters: { patient: patientId, from: period.from.toISOString(), to: period.to.toISOString() },
    columns: [
      'seq',
      'recordedAt',
      'actorType',
      'actorId',
      'action',
      'outcome',
      'resource',
      'purposeOfUse',
      'sourceIp',
    ],
    rows: rows.map(({ seq, doc }) => ({
      ...base(doc, seq),
      resource: resourceRef(doc),
      purposeOfUse: doc.purposeOfUse,
      sourceIp: doc.sourceIp,
    })),
  };
}

/** Everything one user did in a period. */
export async function userAccessReport(db: Queryable, userId: string, period: Period): Promise<Report> {
  const rows = await entries(db, { actor: userId, from: period.from, to: period.to });
  return {
    name: 'user-access',
    generatedAt: new Date().toISOString(),
    parameters: { user: userId, from: period.from.toISOString(), to: period.to.toISOString() },
    columns: ['seq', 'recordedAt', 'action', 'outcome', 'resource', 'patients', 'purposeOfUse', 'sourceIp'],
    rows: rows.map(({ seq, doc }) => ({
      ...base(doc, seq),
      resource: resourceRef(doc),
      patients: doc.patientIds.join(' '),
      purposeOfUse: doc.purposeOfUse,
      sourceIp: doc.sourceIp,
    })),
    summary: {
      entries: rows.length,
      distinctPatients: new Set(rows.flatMap((r) => r.doc.patientIds)).size,
    },
  };
}

export async function privilegedActionsReport(db: Queryable, period: Period): Promise<Report> {
  const rows = await entries(db, { action: PRIVILEGED_ACTIONS, from: period.from, to: period.to });
  return {
    name: 'privileged-actions',
    generatedAt: new Date().toISOString(),
    parameters: { from: period.from.toISOString(), to: period.to.toISOString() },
    columns: ['seq', 'recordedAt', 'actorType', 'actorId', 'action', 'outcome', 'resource', 'sourceIp'],
    rows: rows.map(({ seq, doc }) => ({
      ...base(doc, seq),
      resource: resourceRef(doc),
      sourceIp: doc.sourceIp,
    })),
  };
}

export async function failedLoginsReport(db: Queryable, period: Period): Promise<Report> {
  const rows = (await entries(db, { action: FAILED_LOGIN_ACTIONS, from: period.from, to: period.to })).filter(
    (r) => r.doc.outcome !== 'success' || r.doc.action !== 'auth.login',
  );
  const byUser = new Map<string, number>();
  for (const { doc } of rows) {
    const who = loginSubject(doc);
    byUser.set(who, (byUser.get(who) ?? 0) + 1);
  }
  return {
    name: 'failed-logins',
    generatedAt: new Date().toISOString(),
    parameters: { from: period.from.toISOString(), to: period.to.toISOString() },
    columns: ['seq', 'recordedAt', 'action', 'subject', 'sourceIp', 'userAgent'],
    rows: rows.map(({ seq, doc }) => ({
      seq,
      recordedAt: doc.recordedAt,
      action: doc.action,
      subject: loginSubject(doc),
      sourceIp: doc.sourceIp,
      userAgent: doc.userAgent,
    })),
    summary: { failures: rows.length, subjects: byUser.size },
  };
}

/** The account a failed login was for: the actor when known, else the username tried. */
export function loginSubject(doc: Pick<ChainedEntry, 'actor' | 'details'>): string {
  const tried = doc.details?.['username'];
  return doc.actor?.id ?? (typeof tried === 'string' ? tried : 'unknown');
}

export async function roleChangesReport(db: Queryable, period: Period): Promise<Report> {
  const rows = await entries(db, {
    action: ['role.*', 'user.role_granted', 'user.role_revoked'],
    from: period.from,
    to: period.to,
  });
  return {
    name: 'role-changes',
    generatedAt: new Date().toISOString(),
    parameters: { from: period.from.toISOString(), to: period.to.toISOString() },
    columns: ['seq', 'recordedAt', 'actorId', 'action', 'outcome', 'targetUser', 'added', 'removed'],
    rows: rows.map(({ seq, doc }) => ({
      ...base(doc, seq),
      targetUser: str(doc.details?.['userId']) ?? doc.resource?.id ?? null,
      added: list(doc.details?.['added']),
      removed: list(doc.details?.['removed']),
    })),
  };
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function list(v: unknown): string | null {
  return Array.isArray(v) ? v.map(String).join(' ') : str(v);
}

/** Share of active accounts with a second factor (SOC 2 CC6.1). */
export async function mfaCoverageReport(directory: UserDirectory): Promise<Report> {
  const users = (await directory.listUsers()).filter((u) => u.active);
  const enrolled = users.filter((u) => u.mfaEnrolled).length;
  return {
    name: 'mfa-coverage',
    generatedAt: new Date().toISOString(),
    parameters: {},
    columns: ['userId', 'username', 'roles', 'mfaEnrolled'],
    rows: users.map((u) => ({
      userId: u.id,
      username: u.username,
      roles: u.roles.join(' '),
      mfaEnrolled: u.mfaEnrolled,
    })),
    summary: {
      activeUsers: users.length,
      enrolled,
      coveragePercent: users.length === 0 ? 100 : Math.round((enrolled / users.length) * 1000) / 10,
    },
  };
}

/**
 * Active accounts without a successful sign-in for `days` days. The audit log's last
 * `user.authenticated` wins over the directory's own record when it is newer.
 */
export async function dormantAccountsReport(
  db: Queryable,
  directory: UserDirectory,
  days: number,
  now = new Date(),
): Promise<Report> {
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const users = (await directory.listUsers()).filter((u) => u.active);
  const { rows } = await db.query<{ actor: string; last: Date }>(
    `SELECT doc->'actor'->>'id' AS actor, max(recorded_at) AS last FROM audit_log
      WHERE doc->>'action' IN ('user.authenticated', 'auth.login') AND doc->>'outcome' = 'success'
        AND doc->'actor'->>'id' = ANY($1::text[])
      GROUP BY 1`,
    [users.map((u) => u.id)],
  );
  const lastSeen = new Map(rows.map((r) => [r.actor, r.last]));
  const dormant = users
    .map((u) => {
      const fromLog = lastSeen.get(u.id) ?? null;
      const last =
        [u.lastLoginAt, fromLog]
          .filter((d): d is Date => d !== null)
          .sort((a, b) => b.getTime() - a.getTime())[0] ?? null;
      return { u, last };
    })
    .filter(({ u, last }) => (last ? last < cutoff : u.createdAt < cutoff));
  return {
    name: 'dormant-accounts',
    generatedAt: now.toISOString(),
    parameters: { days },
    columns: ['userId', 'username', 'roles', 'lastLoginAt', 'createdAt'],
    rows: dormant.map(({ u, last }) => ({
      userId: u.id,
      username: u.username,
      roles: u.roles.join(' '),
      lastLoginAt: last?.toISOString() ?? null,
      createdAt: u.createdAt.toISOString(),
    })),
    summary: { activeUsers: users.length, dormant: dormant.length },
  };
}

function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  const text = String(value);
  // Quote when needed; a leading =, +, - or @ would be a formula in a spreadsheet.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) || safe !== text ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** RFC 4180 CSV with a header row. */
export function reportToCsv(report: Report): string {
  const lines = [report.columns.join(',')];
  for (const row of report.rows) lines.push(report.columns.map((c) => csvCell(row[c] ?? null)).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
