import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { AuditOutcome } from '../../platform/audit/port.js';
import { errors } from '../../platform/http/errors.js';
import { FHIR_JSON } from '../../platform/http/error-response.js';
import { acknowledgeAlert, listAlerts } from './alerts.js';
import { toAuditEvent } from './fhir-view.js';
import { entryProof, ProofUnavailableError } from './proof.js';
import { decodeCursor, InvalidCursorError, queryEntries, type AuditQuery } from './query.js';
import {
  disclosuresReport,
  dormantAccountsReport,
  failedLoginsReport,
  mfaCoverageReport,
  privilegedActionsReport,
  reportToCsv,
  roleChangesReport,
  userAccessReport,
  type Period,
  type Report,
} from './reports.js';
import type { AuditService } from './service.js';
import { exportPage } from './siem.js';
import { problemSchema } from '../../platform/http/schemas.js';

/** Authorization preHandler for a permission; supplied by the identity module through the lead. */
export type Guard = (permission: string) => preHandlerAsyncHookHandler;

export const AUDIT_PERMISSIONS = {
  read: 'audit:read',
  verify: 'audit:verify',
  report: 'audit:report',
  export: 'audit:export',
  alerts: 'audit:alerts',
} as const;

const problem = problemSchema;

const entrySchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    seq: { type: 'integer' },
    hash: { type: 'string' },
    prevHash: { type: 'string' },
    recordedAt: { type: 'string', format: 'date-time' },
    time: { type: 'string', format: 'date-time' },
    action: { type: 'string' },
    outcome: { type: 'string', enum: ['success', 'failure', 'denied'] },
    actor: { type: ['object', 'null'], additionalProperties: true },
    patientIds: { type: 'array', items: { type: 'string' } },
    resource: { type: ['object', 'null'], additionalProperties: true },
    purposeOfUse: { type: ['string', 'null'] },
    sourceIp: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    requestId: { type: ['string', 'null'] },
    details: { type: ['object', 'null'], additionalProperties: true },
  },
} as const;

const damageSchema = {
  type: 'object',
  properties: {
    seq: { type: ['integer', 'null'] },
    kind: {
      type: 'string',
      enum: ['modified', 'deleted', 'inserted', 'reordered', 'checkpoint_mismatch', 'schema_altered'],
    },
    detail: { type: 'string' },
  },
} as const;

const verifyReportSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    from: { type: 'integer' },
    to: { type: 'integer' },
    headSeq: { type: 'integer' },
    entriesChecked: { type: 'integer' },
    checkpointsChecked: { type: 'integer' },
    threads: { type: 'integer', description: 'threads that checked segments of the chain side by side' },
    firstDamage: { anyOf: [damageSchema, { type: 'null' }] },
    issues: { type: 'array', items: damageSchema },
    warnings: { type: 'array', items: { type: 'string' } },
    durationMs: { type: 'number' },
    entriesPerSecond: { type: 'number' },
  },
} as const;

const periodQuery = {
  from: { type: 'string', format: 'date-time', description: 'inclusive' },
  to: { type: 'string', format: 'date-time', description: 'exclusive; default now' },
  format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
} as const;

const reportSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    generatedAt: { type: 'string' },
    parameters: { type: 'object', additionalProperties: true },
    columns: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: { type: 'object', additionalProperties: true } },
    summary: { type: 'object', additionalProperties: true },
  },
} as const;

const alertSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'integer' },
    rule: { type: 'string' },
    severity: { type: 'string' },
    subject: { type: 'string' },
    seq: { type: ['integer', 'null'] },
    summary: { type: 'string' },
    status: { type: 'string', enum: ['open', 'acknowledged'] },
    createdAt: { type: 'string' },
    acknowledgedBy: { type: ['string', 'null'] },
    acknowledgedAt: { type: ['string', 'null'] },
    deliveredAt: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true },
  },
} as const;

function date(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw errors.validation(`${field} is not a date`, [{ location: `/${field}`, message: 'not a date' }]);
  return d;
}

function period(q: { from?: string; to?: string }): Period {
  const to = date(q.to, 'to') ?? new Date();
  const from = date(q.from, 'from') ?? new Date(to.getTime() - 30 * 86_400_000);
  if (from >= to)
    throw errors.validation('from must be before to', [{ location: '/from', message: 'after to' }]);
  return { from, to };
}

function actorOf(request: FastifyRequest) {
  return request.userId ? { type: 'user' as const, id: request.userId } : null;
}

function context(request: FastifyRequest) {
  return {
    actor: actorOf(request),
    sourceIp: request.ip,
    userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : undefined,
    requestId: request.id,
  };
}

function sendReport(reply: FastifyReply, report: Report, format: string | undefined): FastifyReply | Report {
  if (format === 'csv') {
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${report.name}.csv"`)
      .send(reportToCsv(report));
  }
  return report;
}

/** Parses a FHIR date search value with an optional prefix into recorded_at bounds. */
function fhirDate(values: string[], q: AuditQuery): void {
  for (const raw of values) {
    const m = /^(eq|ge|gt|le|lt)?(\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?)$/.exec(raw);
    if (!m)
      throw errors.badRequest(`date search value "${raw}" is not a FHIR date`, [
        { location: 'date', message: 'invalid date' },
      ]);
    const prefix = m[1] ?? 'eq';
    const text = m[2]!;
    const start = new Date(text.length === 4 ? `${text}-01-01` : text.length === 7 ? `${text}-01` : text);
    if (Number.isNaN(start.getTime()))
      throw errors.badRequest(`date search value "${raw}" is not a FHIR date`);
    const end = new Date(start);
    if (text.length === 4) end.setUTCFullYear(end.getUTCFullYear() + 1);
    else if (text.length === 7) end.setUTCMonth(end.getUTCMonth() + 1);
    else if (text.length === 10) end.setUTCDate(end.getUTCDate() + 1);
    else end.setTime(end.getTime() + 1);
    if (prefix === 'eq' || prefix === 'ge') q.from = start;
    if (prefix === 'gt') q.from = end;
    if (prefix === 'eq' || prefix === 'lt') q.to = prefix === 'eq' ? end : start;
    if (prefix === 'le') q.to = end;
  }
}

const TYPE_TO_ACTIONS: Record<string, string[]> = {
  rest: ['fhir.*'],
  '110114': ['auth.*', 'user.*', 'session.*', 'mfa.*'],
  '110136': ['role.*'],
  '110113': ['break_glass.*', 'alert.*'],
  '110106': ['export.*', 'fhir.export'],
};

function wrap<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((error: unknown) => {
    if (error instanceof InvalidCursorError)
      throw errors.badRequest(error.message, [{ location: '/cursor', message: error.message }]);
    throw error;
  });
}

/** HTTP surface of the audit module. `guard(permission)` authorizes; the lead wires the identity module's. */
export function registerAuditRoutes(app: FastifyInstance, audit: AuditService, guard: Guard): void {
  const errorResponses = { 400: problem, 401: problem, 403: problem };
  // Reads of the log first chain what this process recorded: entries wait up to a pass interval
  // in the intake, and an auditor must see an action the moment after it happened.
  const readsLog = (permission: string): preHandlerAsyncHookHandler[] => [
    guard(permission),
    async () => {
      await audit.flush();
    },
  ];

  app.post<{ Body: { from?: number; to?: number } }>(
    '/api/v1/audit/verify',
    {
      preHandler: guard(AUDIT_PERMISSIONS.verify),
      schema: {
        tags: ['audit'],
        summary: 'Recompute the hash chain and the signed checkpoints; report the first damage',
        security: [{ bearerAuth: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 } },
        },
        response: { 200: verifyReportSchema, ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      await audit.flush();
      const report = await audit.verify({ from: body.from, to: body.to });
      await audit.record({
        action: 'audit.verify',
        outcome: report.ok ? 'success' : 'failure',
        ...context(request),
        details: { from: report.from, to: report.to, firstDamage: report.firstDamage },
      });
      return report;
    },
  );

  app.get<{
    Querystring: {
      actor?: string;
      patient?: string;
      action?: string;
      outcome?: AuditOutcome;
      from?: string;
      to?: string;
      cursor?: string;
      limit?: number;
    };
  }>(
    '/api/v1/audit/entries',
    {
      preHandler: readsLog(AUDIT_PERMISSIONS.read),
      schema: {
        tags: ['audit'],
        summary: 'Search audit entries (newest first, cursor paging)',
        security: [{ bearerAuth: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: { type: 'string', maxLength: 256 },
            patient: { type: 'string', maxLength: 256 },
            action: { type: 'string', maxLength: 128, description: 'exact, or a prefix like fhir.*' },
            outcome: { type: 'string', enum: ['success', 'failure', 'denied'] },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            cursor: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              entries: { type: 'array', items: entrySchema },
              nextCursor: { type: ['string', 'null'] },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await wrap(() =>
        queryEntries(audit.db, {
          actor: q.actor,
          patient: q.patient,
          action: q.action,
          outcome: q.outcome,
          from: date(q.from, 'from'),
          to: date(q.to, 'to'),
          cursor: q.cursor,
          limit: q.limit,
        }),
      );
      await audit.record({
        action: 'audit.search',
        outcome: 'success',
        ...context(request),
        // Looking at the trail is not a disclosure of the patient's PHI: the id goes in details.
        details: { results: page.entries.length, ...(q.patient ? { patient: q.patient } : {}) },
      });
      return page;
    },
  );

  app.get<{ Params: { seq: number }; Querystring: { treeSize?: number } }>(
    '/api/v1/audit/entries/:seq/proof',
    {
      preHandler: readsLog(AUDIT_PERMISSIONS.read),
      schema: {
        tags: ['audit'],
        summary: 'An entry with its RFC 6962 inclusion proof against a signed checkpoint',
        security: [{ bearerAuth: [] }],
        params: { type: 'object', properties: { seq: { type: 'integer', minimum: 1 } }, required: ['seq'] },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { treeSize: { type: 'integer', minimum: 1 } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              entry: entrySchema,
              leafIndex: { type: 'integer' },
              treeSize: { type: 'integer' },
              leafHash: { type: 'string' },
              auditPath: { type: 'array', items: { type: 'string' } },
              checkpoint: {
                type: 'object',
                properties: {
                  treeSize: { type: 'integer' },
                  rootHash: { type: 'string' },
                  payload: { type: 'string' },
                  signature: { type: 'string' },
                  kid: { type: 'string' },
                },
              },
            },
          },
          404: problem,
          409: problem,
          ...errorResponses,
        },
      },
    },
    async (request) => {
      try {
        const proof = await entryProof(audit.db, request.params.seq, request.query.treeSize);
        if (!proof) throw errors.notFound(`audit entry ${request.params.seq} does not exist`);
        return proof;
      } catch (error) {
        if (error instanceof ProofUnavailableError) throw errors.conflict(error.message);
        throw error;
      }
    },
  );

  const reports: Array<{
    path: string;
    summary: string;
    extra: Record<string, unknown>;
    required?: string[];
    run: (q: Record<string, string | number | undefined>) => Promise<Report>;
  }> = [
    {
      path: 'disclosures',
      summary: 'Accounting of disclosures (HIPAA 164.528): who accessed one patient’s PHI, when and why',
      extra: { patient: { type: 'string', minLength: 1, maxLength: 256 } },
      required: ['patient'],
      run: (q) => disclosuresReport(audit.db, String(q.patient), period(q as { from?: string; to?: string })),
    },
    {
      path: 'user-access',
      summary: 'Everything one user did in a period',
      extra: { user: { type: 'string', minLength: 1, maxLength: 256 } },
      required: ['user'],
      run: (q) => userAccessReport(audit.db, String(q.user), period(q as { from?: string; to?: string })),
    },
    {
      path: 'privileged-actions',
      summary: 'Administration, role, key, configuration and break-glass actions',
      extra: {},
      run: (q) => privilegedActionsReport(audit.db, period(q as { from?: string; to?: string })),
    },
    {
      path: 'failed-logins',
      summary: 'Failed and locked-out sign-ins',
      extra: {},
      run: (q) => failedLoginsReport(audit.db, period(q as { from?: string; to?: string })),
    },
    {
      path: 'role-changes',
      summary: 'Role grants and revocations',
      extra: {},
      run: (q) => roleChangesReport(audit.db, period(q as { from?: string; to?: string })),
    },
    {
      path: 'mfa-coverage',
      summary: 'Active accounts with and without a second factor',
      extra: {},
      run: async () => {
        if (!audit.userDirectory) throw errors.unavailable('the user directory is not connected');
        return mfaCoverageReport(audit.userDirectory);
      },
    },
    {
      path: 'dormant-accounts',
      summary: 'Active accounts without a sign-in for a number of days',
      extra: { days: { type: 'integer', minimum: 1, maximum: 3650, default: 90 } },
      run: async (q) => {
        if (!audit.userDirectory) throw errors.unavailable('the user directory is not connected');
        return dormantAccountsReport(audit.db, audit.userDirectory, Number(q.days ?? 90));
      },
    },
  ];
  for (const r of reports) {
    app.get<{ Querystring: Record<string, string | number | undefined> }>(
      `/api/v1/audit/reports/${r.path}`,
      {
        preHandler: readsLog(AUDIT_PERMISSIONS.report),
        schema: {
          tags: ['audit'],
          summary: r.summary,
          security: [{ bearerAuth: [] }],
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...periodQuery, ...r.extra },
            ...(r.required ? { required: r.required } : {}),
          },
          response: { 200: reportSchema, 503: problem, ...errorResponses },
        },
      },
      async (request, reply) => {
        const report = await r.run(request.query);
        const patient = typeof request.query.patient === 'string' ? request.query.patient : undefined;
        await audit.record({
          action: 'audit.report',
          outcome: 'success',
          ...context(request),
          details: { report: r.path, rows: report.rows.length, ...(patient ? { patient } : {}) },
        });
        return sendReport(reply, report, request.query.format as string | undefined);
      },
    );
  }

  app.get<{ Querystring: { sinceSeq?: number; limit?: number } }>(
    '/api/v1/audit/export',
    {
      preHandler: readsLog(AUDIT_PERMISSIONS.export),
      schema: {
        tags: ['audit'],
        summary: 'SIEM export: JSON Lines of entries after sinceSeq; X-Next-Seq is the next cursor',
        security: [{ bearerAuth: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sinceSeq: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 100000, default: 10000 },
          },
        },
        response: { 200: { type: 'string', description: 'application/x-ndjson' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const page = await exportPage(audit.db, request.query.sinceSeq ?? 0, request.query.limit);
      await audit.record({
        action: 'audit.export',
        outcome: 'success',
        ...context(request),
        details: { sinceSeq: request.query.sinceSeq ?? 0, count: page.count },
      });
      return reply.type('application/x-ndjson').header('x-next-seq', String(page.nextSeq)).send(page.lines);
    },
  );

  app.get<{ Querystring: { status?: 'open' | 'acknowledged'; afterId?: number; limit?: number } }>(
    '/api/v1/audit/alerts',
    {
      preHandler: guard(AUDIT_PERMISSIONS.alerts),
      schema: {
        tags: ['audit'],
        summary: 'Monitoring alerts raised from the audit log',
        security: [{ bearerAuth: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'acknowledged'] },
            afterId: { type: 'integer', minimum: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: {
          200: { type: 'object', properties: { alerts: { type: 'array', items: alertSchema } } },
          ...errorResponses,
        },
      },
    },
    async (request) => ({ alerts: await listAlerts(audit.db, request.query) }),
  );

  app.post<{ Params: { id: number } }>(
    '/api/v1/audit/alerts/:id/acknowledge',
    {
      preHandler: guard(AUDIT_PERMISSIONS.alerts),
      schema: {
        tags: ['audit'],
        summary: 'Acknowledge an alert',
        security: [{ bearerAuth: [] }],
        params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] },
        response: { 200: alertSchema, 404: problem, ...errorResponses },
      },
    },
    async (request) => {
      const by = request.userId ?? 'unknown';
      const alert = await acknowledgeAlert(audit.db, request.params.id, by);
      if (!alert) throw errors.notFound(`alert ${request.params.id} does not exist`);
      await audit.record({
        action: 'audit.alert_acknowledged',
        outcome: 'success',
        ...context(request),
        details: { alertId: alert.id, rule: alert.rule },
      });
      return alert;
    },
  );

  app.get<{
    Querystring: {
      patient?: string;
      agent?: string;
      date?: string | string[];
      type?: string;
      _count?: number;
      _cursor?: string;
    };
  }>(
    '/fhir/AuditEvent',
    {
      preHandler: readsLog(AUDIT_PERMISSIONS.read),
      schema: {
        tags: ['fhir'],
        summary: 'Search AuditEvent (patient, agent, date, type)',
        security: [{ bearerAuth: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            patient: { type: 'string', maxLength: 256, description: 'Patient id or Patient/id' },
            agent: { type: 'string', maxLength: 256, description: 'user or client id' },
            date: { type: 'array', items: { type: 'string', maxLength: 40 }, maxItems: 2 },
            type: { type: 'string', maxLength: 128, description: 'type code (rest, 110114, ...) or action' },
            _count: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            _cursor: { type: 'string', maxLength: 64 },
          },
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const query: AuditQuery = { limit: q._count ?? 50, cursor: q._cursor };
      if (q.patient) query.patient = q.patient.replace(/^Patient\//, '');
      if (q.agent) query.actor = q.agent.replace(/^[A-Za-z]+\//, '');
      if (q.type) query.action = TYPE_TO_ACTIONS[q.type.replace(/^.*\|/, '')] ?? q.type.replace(/^.*\|/, '');
      const dates = q.date === undefined ? [] : Array.isArray(q.date) ? q.date : [q.date];
      fhirDate(dates, query);
      if (query.cursor) {
        try {
          decodeCursor(query.cursor);
        } catch (error) {
          throw errors.badRequest((error as Error).message, [
            { location: '_cursor', message: 'invalid cursor' },
          ]);
        }
      }
      const page = await queryEntries(audit.db, query);
      const base = `/fhir/AuditEvent`;
      const self = request.url;
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) {
        if (k === '_cursor' || v === undefined) continue;
        for (const item of Array.isArray(v) ? v : [v]) params.append(k, String(item));
      }
      if (page.nextCursor) params.set('_cursor', page.nextCursor);
      await audit.record({
        action: 'audit.search',
        outcome: 'success',
        ...context(request),
        details: {
          results: page.entries.length,
          fhir: true,
          ...(query.patient ? { patient: query.patient } : {}),
        },
      });
      return reply.type(FHIR_JSON).send({
        resourceType: 'Bundle',
        type: 'searchset',
        link: [
          { relation: 'self', url: self },
          ...(page.nextCursor ? [{ relation: 'next', url: `${base}?${params.toString()}` }] : []),
        ],
        entry: page.entries.map((e) => ({
          fullUrl: `${base}/${e.seq}`,
          resource: toAuditEvent(e),
          search: { mode: 'match' },
        })),
      });
    },
  );
}
