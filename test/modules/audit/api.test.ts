import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../../src/config.js';
import { AlertEngine, type Alert, type AlertNotifier } from '../../../src/modules/audit/alerts.js';
import type { DirectoryUser } from '../../../src/modules/audit/reports.js';
import { registerAuditRoutes } from '../../../src/modules/audit/routes.js';
import { createHttpApp } from '../../../src/platform/http/app.js';
import { errors } from '../../../src/platform/http/errors.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { createMetrics } from '../../../src/platform/observability/metrics.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

const USERS: DirectoryUser[] = [
  {
    id: 'user-1',
    username: 'ana',
    active: true,
    roles: ['clinician'],
    mfaEnrolled: true,
    lastLoginAt: new Date(),
    createdAt: new Date('2020-01-01'),
  },
  {
    id: 'user-2',
    username: 'ben',
    active: true,
    roles: ['admin'],
    mfaEnrolled: false,
    lastLoginAt: new Date('2021-01-01'),
    createdAt: new Date('2020-01-01'),
  },
  {
    id: 'user-3',
    username: 'cy',
    active: false,
    roles: [],
    mfaEnrolled: false,
    lastLoginAt: null,
    createdAt: new Date('2020-01-01'),
  },
];

describe('audit API, reports, FHIR view and alerts', () => {
  let fx: AuditFixture;
  let app: FastifyInstance;
  const granted: string[] = [];
  const delivered: Alert[] = [];
  let failDeliveries = 1;

  before(async () => {
    const notifier: AlertNotifier = {
      async deliver(alert) {
        if (failDeliveries-- > 0) throw new Error('webhook down');
        delivered.push(alert);
      },
    };
    fx = await auditFixture({
      checkpointEvery: 5,
      // Nothing is chained unless asked: reads of the log must flush for themselves.
      passIntervalMs: 600_000,
      userDirectory: { listUsers: async () => USERS },
      alertNotifier: notifier,
      alertRules: {
        failedLogins: { threshold: 3, windowMinutes: 15 },
        phiVolume: { distinctPatients: 5, windowMinutes: 60 },
        allowedHours: null,
        restrictedPatients: async (ids) => ids.filter((id) => id === 'vip-1'),
      },
    });
    const records = [
      ...Array.from({ length: 12 }, (_, i) =>
        sampleRecord(i, { actor: { type: 'user', id: 'user-1' }, patientIds: [`pat-${i}`] }),
      ),
      sampleRecord(20, {
        actor: { type: 'user', id: 'user-2' },
        patientIds: ['pat-1'],
        purposeOfUse: 'HPAYMT',
      }),
      sampleRecord(21, {
        action: 'fhir.search',
        actor: { type: 'user', id: 'user-2' },
        patientIds: ['vip-1'],
      }),
      ...Array.from({ length: 4 }, (_, i) =>
        sampleRecord(30 + i, {
          action: 'auth.login',
          outcome: 'failure',
          actor: null,
          patientIds: [],
          resource: undefined,
          details: { username: 'mallory' },
        }),
      ),
      sampleRecord(40, {
        action: 'role.changed',
        actor: { type: 'user', id: 'user-2' },
        patientIds: [],
        details: { userId: 'user-1', added: ['admin'], removed: [] },
      }),
      sampleRecord(41, {
        action: 'break_glass.opened',
        actor: { type: 'user', id: 'user-1' },
        patientIds: ['pat-99'],
        purposeOfUse: 'ETREAT',
        details: { reason: 'unconscious patient' },
      }),
      sampleRecord(42, {
        action: 'user.authenticated',
        actor: { type: 'user', id: 'user-1' },
        patientIds: [],
      }),
    ];
    for (const r of records) await fx.audit.record(r);
    await fx.audit.flush();
    await fx.audit.alerts.process();

    const config = loadConfig({ NODE_ENV: 'test', IRIS_DATA_DIR: fx.dir, LOG_LEVEL: 'silent' });
    app = await createHttpApp({
      config,
      logger: createLogger('silent'),
      metrics: createMetrics(() => fx.handle.db.stats()),
      version: 'test',
    });
    const guard =
      (permission: string) => async (request: { headers: Record<string, unknown>; userId?: string }) => {
        if (request.headers['x-test-user'] === undefined) throw errors.unauthorized();
        granted.push(permission);
        request.userId = String(request.headers['x-test-user']);
      };
    registerAuditRoutes(app, fx.audit, guard);
    await app.ready();
  });
  after(async () => {
    await app.close();
    await fx.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url, headers: { 'x-test-user': 'auditor-1' } });

  test('every route goes through the guard with its permission', async () => {
    const anonymous = await app.inject({ method: 'GET', url: '/api/v1/audit/entries' });
    assert.equal(anonymous.statusCode, 401);
    assert.match(String(anonymous.headers['content-type']), /^application\/problem\+json/);
    const fhir = await app.inject({ method: 'GET', url: '/fhir/AuditEvent' });
    assert.equal(fhir.statusCode, 401);
    assert.equal(JSON.parse(fhir.body).resourceType, 'OperationOutcome');
  });

  test('entries filter by actor, patient, action and outcome, with cursor paging', async () => {
    const page1 = (await get('/api/v1/audit/entries?actor=user-1&limit=5')).json();
    assert.equal(page1.entries.length, 5);
    assert.ok(page1.entries.every((e: { actor: { id: string } }) => e.actor.id === 'user-1'));
    const page2 = (await get(`/api/v1/audit/entries?actor=user-1&limit=5&cursor=${page1.nextCursor}`)).json();
    assert.ok(page2.entries[0].seq < page1.entries[4].seq);
    const byPatient = (await get('/api/v1/audit/entries?patient=pat-1')).json();
    assert.deepEqual(byPatient.entries.map((e: { actor: { id: string } }) => e.actor.id).sort(), [
      'user-1',
      'user-2',
    ]);
    const failures = (await get('/api/v1/audit/entries?action=auth.*&outcome=failure')).json();
    assert.equal(failures.entries.length, 4);
    const bad = await get('/api/v1/audit/entries?cursor=nonsense');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'IRIS_BAD_REQUEST');
    assert.ok(granted.includes('audit:read'));
  });

  test('an action recorded a moment ago is found at once, in the entries and the FHIR view', async () => {
    await fx.audit.record(
      sampleRecord(50, { actor: { type: 'user', id: 'user-9' }, patientIds: ['pat-now'] }),
    );
    const entries = (await get('/api/v1/audit/entries?patient=pat-now')).json();
    assert.deepEqual(
      entries.entries.map((e: { actor: { id: string } }) => e.actor.id),
      ['user-9'],
    );
    await fx.audit.record(
      sampleRecord(51, { actor: { type: 'user', id: 'user-9' }, patientIds: ['pat-now'] }),
    );
    const bundle = (await get('/fhir/AuditEvent?patient=pat-now')).json();
    assert.equal(bundle.entry.length, 2);
  });

  test('an entry comes with an inclusion proof against a checkpoint', async () => {
    const res = await get('/api/v1/audit/entries/3/proof');
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.entry.seq, 3);
    assert.ok(body.auditPath.length > 0);
    assert.equal((await get('/api/v1/audit/entries/9999/proof')).statusCode, 404);
  });

  test('verification through the API reports an intact log', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/audit/verify',
      headers: { 'x-test-user': 'auditor-1' },
      payload: {},
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().ok, true);
    assert.ok(granted.includes('audit:verify'));
  });

  test('accounting of disclosures lists who saw the patient, when and why, as JSON and CSV', async () => {
    const json = (
      await get('/api/v1/audit/reports/disclosures?patient=pat-1&from=2000-01-01T00:00:00Z')
    ).json();
    assert.equal(json.name, 'accounting-of-disclosures');
    assert.deepEqual(
      json.rows.map((r: { actorId: string; purposeOfUse: string }) => [r.actorId, r.purposeOfUse]),
      [
        ['user-1', 'TREAT'],
        ['user-2', 'HPAYMT'],
      ],
    );
    const csv = await get(
      '/api/v1/audit/reports/disclosures?patient=pat-1&from=2000-01-01T00:00:00Z&format=csv',
    );
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    const lines = csv.body.trim().split('\r\n');
    assert.equal(lines[0], 'seq,recordedAt,actorType,actorId,action,outcome,resource,purposeOfUse,sourceIp');
    assert.equal(lines.length, 3);
    assert.equal((await get('/api/v1/audit/reports/disclosures')).statusCode, 400);
  });

  test('user access, privileged actions, failed logins and role changes', async () => {
    // Reports read the chained log; the verification's own entry is chained just after it answers.
    await fx.audit.flush();
    const access = (await get('/api/v1/audit/reports/user-access?user=user-2')).json();
    assert.equal(access.summary.entries, 3);
    const privileged = (await get('/api/v1/audit/reports/privileged-actions')).json();
    const actions = new Set(privileged.rows.map((r: { action: string }) => r.action));
    // Reading the audit log is privileged too: the verification made by an earlier test is listed.
    assert.deepEqual([...actions].filter((a) => !String(a).startsWith('audit.')).sort(), [
      'break_glass.opened',
      'role.changed',
    ]);
    assert.ok(actions.has('audit.verify'));
    const failed = (await get('/api/v1/audit/reports/failed-logins')).json();
    assert.deepEqual([failed.summary.failures, failed.rows[0].subject], [4, 'mallory']);
    const roles = (await get('/api/v1/audit/reports/role-changes')).json();
    assert.deepEqual([roles.rows[0].targetUser, roles.rows[0].added], ['user-1', 'admin']);
  });

  test('MFA coverage and dormant accounts come from the user directory port', async () => {
    const mfa = (await get('/api/v1/audit/reports/mfa-coverage')).json();
    assert.deepEqual(mfa.summary, { activeUsers: 2, enrolled: 1, coveragePercent: 50 });
    const dormant = (await get('/api/v1/audit/reports/dormant-accounts?days=90')).json();
    assert.deepEqual(
      dormant.rows.map((r: { userId: string }) => r.userId),
      ['user-2'],
    );
  });

  test('the FHIR view searches AuditEvent by patient, agent, date and type', async () => {
    const res = await get('/fhir/AuditEvent?patient=Patient/pat-1&date=ge2000-01-01');
    assert.match(String(res.headers['content-type']), /^application\/fhir\+json/);
    const bundle = res.json();
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'searchset');
    assert.equal(bundle.entry.length, 2);
    const event = bundle.entry[0].resource;
    assert.equal(event.resourceType, 'AuditEvent');
    assert.equal(event.action, 'R');
    assert.equal(event.outcome, '0');
    assert.ok(
      event.entity.some((e: { what: { reference: string } }) => e.what?.reference === 'Patient/pat-1'),
    );
    assert.equal(event.agent[0].requestor, true);
    const byAgent = (await get('/fhir/AuditEvent?agent=user-2&type=rest')).json();
    assert.equal(byAgent.entry.length, 2);
    const auth = (await get('/fhir/AuditEvent?type=110114&_count=2')).json();
    assert.equal(auth.entry.length, 2);
    assert.ok(auth.link.some((l: { relation: string }) => l.relation === 'next'));
    const future = (await get('/fhir/AuditEvent?date=gt2999-01-01')).json();
    assert.equal(future.entry.length, 0);
    const bad = await get('/fhir/AuditEvent?date=yesterday');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().resourceType, 'OperationOutcome');
  });

  test('SIEM export returns JSON Lines and the next cursor', async () => {
    const res = await get('/api/v1/audit/export?sinceSeq=0&limit=3');
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    assert.equal(res.headers['x-next-seq'], '3');
    assert.equal(res.body.trim().split('\n').length, 3);
  });

  test('alerts are raised by the rules, delivered with retries, listed and acknowledged', async () => {
    const { alerts } = (await get('/api/v1/audit/alerts')).json() as { alerts: Alert[] };
    const rules = alerts.map((a) => a.rule).sort();
    assert.deepEqual(rules, ['break_glass', 'failed_logins', 'phi_volume', 'restricted_patient']);
    assert.ok(
      alerts.every((a) => a.deliveredAt !== null),
      'the first failure was retried',
    );
    assert.equal(delivered.length, 4);
    const failed = alerts.find((a) => a.rule === 'failed_logins')!;
    assert.equal(failed.subject, 'mallory');
    const ack = await app.inject({
      method: 'POST',
      url: `/api/v1/audit/alerts/${failed.id}/acknowledge`,
      headers: { 'x-test-user': 'sec-1' },
    });
    assert.equal(ack.json().status, 'acknowledged');
    assert.equal(ack.json().acknowledgedBy, 'sec-1');
    const open = (await get('/api/v1/audit/alerts?status=open')).json();
    assert.equal(open.alerts.length, 3);
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: '/api/v1/audit/alerts/999/acknowledge',
          headers: { 'x-test-user': 'x' },
        })
      ).statusCode,
      404,
    );
    // Evaluating again adds nothing: the cursor moved on and alerts are deduplicated.
    assert.equal(await new AlertEngine(fx.handle.db, createLogger('silent')).process(), 0);
  });

  test('reading the audit log is itself audited', async () => {
    await fx.audit.flush();
    const { rows } = await fx.handle.db.query<{ action: string; actor: string }>(
      `SELECT DISTINCT doc->>'action' AS action, doc->'actor'->>'id' AS actor FROM audit_log WHERE doc->>'action' LIKE 'audit.%' ORDER BY 1`,
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      ['audit.alert_acknowledged', 'audit.export', 'audit.report', 'audit.search', 'audit.verify'],
    );
  });
});
