import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import { fhirStore } from '../../../src/modules/fhir/index.js';
import { exportJobs } from '../../../src/modules/fhir/export/jobs.js';
import { runExport } from '../../../src/modules/fhir/export/runner.js';
import { exportCleanupJob, exportSubscriber } from '../../../src/modules/fhir/export/worker.js';
import type { DomainEvent } from '../../../src/platform/events/port.js';
import type { ObjectStorage } from '../../../src/platform/storage/port.js';
import { testApp, type TestApp } from '../../helpers/app.js';
import { immunizationResource, patientResource } from '../../helpers/fixtures.js';
import { bearer, eventually, tokenFor } from '../../helpers/users.js';

const FHIR = { 'content-type': 'application/fhir+json' };
const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: Array<{ type: string; url: string; count: number }>;
  error: unknown[];
}

/** The subject of an access token (the user id). */
function subjectOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sub: string;
  };
  return payload.sub;
}

describe('bulk $export', () => {
  let t: TestApp;
  /** Scope `all`, reads patients, immunizations, clinical and directory types, may export. */
  let exporter: string;
  /** Integration client-like user of org1: its patients only. */
  let org1: string;
  let stranger: string;
  let nurse: string;
  let seededAt: string;

  const put = async (
    token: string,
    resource: { resourceType: string; id: string; [key: string]: unknown },
  ) => {
    const res = await t.app.inject({
      method: 'PUT',
      url: `/fhir/${resource.resourceType}/${resource.id}`,
      headers: { ...FHIR, ...bearer(token) },
      payload: JSON.stringify(resource),
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
  };

  const kickOff = async (token: string, url: string) => {
    const res = await t.app.inject({ method: 'GET', url, headers: { ...ASYNC, ...bearer(token) } });
    assert.equal(res.statusCode, 202, res.body);
    const location = String(res.headers['content-location']);
    assert.match(location, /^http:\/\/.+\/fhir\/\$export-status\/[0-9a-f-]{36}$/);
    return new URL(location).pathname;
  };

  const finished = (token: string, statusPath: string) =>
    eventually(async () => {
      const res = await t.app.inject({ method: 'GET', url: statusPath, headers: bearer(token) });
      if (res.statusCode === 202) {
        assert.ok(res.headers['x-progress']);
        assert.ok(res.headers['retry-after']);
        return undefined;
      }
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      return res.json() as Manifest;
    }, 'the export to complete');

  /** Every resource of an export, by type, read back from its files. */
  const download = async (token: string, manifest: Manifest) => {
    const byType = new Map<string, Resource[]>();
    for (const out of manifest.output) {
      const res = await t.app.inject({
        method: 'GET',
        url: new URL(out.url).pathname,
        headers: { ...bearer(token), accept: 'application/fhir+ndjson' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/fhir\+ndjson/);
      const lines = res.body.split('\n').filter(Boolean);
      assert.equal(lines.length, out.count);
      const resources = lines.map((line) => JSON.parse(line) as Resource);
      for (const r of resources) assert.equal(r.resourceType, out.type);
      byType.set(out.type, [...(byType.get(out.type) ?? []), ...resources]);
    }
    return byType;
  };

  const idsOf = (byType: Map<string, Resource[]>, type: string) =>
    (byType.get(type) ?? []).map((r) => r.id).sort();

  const exportAll = async (token: string, url: string) => {
    const manifest = await finished(token, await kickOff(token, url));
    return { manifest, byType: await download(token, manifest) };
  };

  before(async () => {
    t = await testApp({ IRIS_MFA_REQUIRED_ROLES: '', RATE_LIMIT_MAX: '100000' });
    await t.runtime.ctx.db.query(
      `INSERT INTO auth_roles (name, description, patient_scope) VALUES
         ('bulk_all', 'test exporter', 'all'), ('bulk_writer', 'test seeder', 'all')`,
    );
    await t.runtime.ctx.db.query(
      `INSERT INTO auth_role_permissions (role, permission) SELECT 'bulk_all', unnest($1::text[])`,
      [['patient:read', 'immunization:read', 'clinical:read', 'directory:read', 'fhir:export']],
    );
    await t.runtime.ctx.db.query(
      `INSERT INTO auth_role_permissions (role, permission) SELECT 'bulk_writer', unnest($1::text[])`,
      [['patient:write', 'immunization:write', 'clinical:write', 'directory:write']],
    );
    const writer = await tokenFor(t, ['bulk_writer']);
    exporter = await tokenFor(t, ['bulk_all']);
    org1 = await tokenFor(t, ['integration'], { organizationId: 'org1' });
    stranger = await tokenFor(t, ['integration'], { organizationId: 'org1' });
    nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
    await put(writer, { resourceType: 'Organization', id: 'org1', name: 'Org One' });
    await put(writer, patientResource('xp1', '2020-01-01', 'org1'));
    await put(writer, patientResource('xp2', '2020-01-01', 'org1'));
    await put(writer, patientResource('xp3', '2020-01-01', 'org2'));
    await put(writer, immunizationResource('xi1', 'xp1', '08', '2024-03-10'));
    await put(writer, immunizationResource('xi2', 'xp1', '20', '2024-03-10'));
    await put(writer, immunizationResource('xi3', 'xp2', '08', '2024-03-10'));
    await put(writer, immunizationResource('xi4', 'xp3', '208', '2024-03-10'));
    await put(writer, {
      resourceType: 'Group',
      id: 'xg1',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: 'Patient/xp1' } }, { entity: { reference: 'Patient/xp3' } }],
    });
    seededAt = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await put(writer, { ...patientResource('xp2', '2020-01-01', 'org1'), birthDate: '2020-02-02' });
  });
  after(() => t.close());

  test('kick-off refuses requests without Prefer: respond-async, bad parameters and non-exporters', async () => {
    const noPrefer = await t.app.inject({ method: 'GET', url: '/fhir/$export', headers: bearer(exporter) });
    assert.equal(noPrefer.statusCode, 400);
    assert.equal(noPrefer.json().resourceType, 'OperationOutcome');
    for (const query of [
      '_type=Patient,Spaceship',
      '_outputFormat=text/csv',
      '_since=yesterday',
      '_typeFilter=Patient%3Fgender%3Dfemale',
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/fhir/$export?${query}`,
        headers: { ...ASYNC, ...bearer(exporter) },
      });
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().resourceType, 'OperationOutcome');
    }
    const outside = await t.app.inject({
      method: 'GET',
      url: '/fhir/Patient/$export?_type=Organization',
      headers: { ...ASYNC, ...bearer(exporter) },
    });
    assert.equal(outside.statusCode, 400);
    const forbidden = await t.app.inject({
      method: 'GET',
      url: '/fhir/$export',
      headers: { ...ASYNC, ...bearer(nurse) },
    });
    assert.equal(forbidden.statusCode, 403);
    const unknownGroup = await t.app.inject({
      method: 'GET',
      url: '/fhir/Group/nope/$export',
      headers: { ...ASYNC, ...bearer(exporter) },
    });
    assert.equal(unknownGroup.statusCode, 404);
  });

  test('a system export writes every visible resource as NDJSON, equal to what the API reads', async () => {
    const { manifest, byType } = await exportAll(exporter, '/fhir/$export?_type=Patient,Immunization');
    assert.equal(manifest.requiresAccessToken, true);
    assert.deepEqual(manifest.error, []);
    assert.match(manifest.request, /\/fhir\/\$export\?_type=Patient,Immunization$/);
    assert.ok(!Number.isNaN(Date.parse(manifest.transactionTime)));
    const counts = Object.fromEntries(manifest.output.map((o) => [o.type, o.count]));
    assert.deepEqual(counts, { Patient: 3, Immunization: 4 });
    assert.deepEqual(idsOf(byType, 'Patient'), ['xp1', 'xp2', 'xp3']);
    assert.deepEqual(idsOf(byType, 'Immunization'), ['xi1', 'xi2', 'xi3', 'xi4']);
    for (const resource of [...(byType.get('Patient') ?? []), ...(byType.get('Immunization') ?? [])]) {
      const read = await t.app.inject({
        method: 'GET',
        url: `/fhir/${resource.resourceType}/${resource.id}`,
        headers: bearer(exporter),
      });
      assert.deepEqual(resource, read.json());
    }
    // The stored files hold PHI: sealed at rest, no resource id or code readable in them.
    const jobId = new URL(manifest.output[0]!.url).pathname.split('/')[3] ?? '';
    let stored = 0;
    for await (const entry of t.runtime.ctx.storage.list(`exports/${jobId}/`)) {
      const object = await t.runtime.ctx.storage.get(entry.key);
      const chunks: Buffer[] = [];
      for await (const chunk of object.body) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      for (const plain of ['xp1', 'xi1', 'Immunization', '2020-01-01', 'resourceType']) {
        assert.ok(!raw.includes(plain), `${entry.key} holds "${plain}" in plain text`);
      }
      stored += 1;
    }
    assert.equal(stored, manifest.output.length);
  });

  test('without _type a system export covers every readable type; a POSTed Parameters works alike', async () => {
    const { byType } = await exportAll(exporter, '/fhir/$export');
    assert.deepEqual(idsOf(byType, 'Organization'), ['org1']);
    assert.deepEqual(idsOf(byType, 'Group'), ['xg1']);
    const posted = await t.app.inject({
      method: 'POST',
      url: '/fhir/$export',
      headers: { ...ASYNC, ...FHIR, ...bearer(exporter) },
      payload: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Immunization' },
          { name: '_outputFormat', valueString: 'application/fhir+ndjson' },
        ],
      },
    });
    assert.equal(posted.statusCode, 202, posted.body);
    const manifest = await finished(exporter, new URL(String(posted.headers['content-location'])).pathname);
    assert.deepEqual(
      manifest.output.map((o) => o.type),
      ['Immunization'],
    );
  });

  test('_since keeps only resources updated after it', async () => {
    const { manifest, byType } = await exportAll(
      exporter,
      `/fhir/$export?_type=Patient,Immunization&_since=${encodeURIComponent(seededAt)}`,
    );
    assert.deepEqual(idsOf(byType, 'Patient'), ['xp2']);
    assert.equal(manifest.output.filter((o) => o.type === 'Immunization').length, 0);
  });

  test('a Patient-level export holds patient compartments only', async () => {
    const { byType } = await exportAll(exporter, '/fhir/Patient/$export');
    assert.deepEqual(idsOf(byType, 'Patient'), ['xp1', 'xp2', 'xp3']);
    assert.deepEqual(idsOf(byType, 'Immunization'), ['xi1', 'xi2', 'xi3', 'xi4']);
    assert.equal(byType.has('Organization'), false);
  });

  test('a Group export holds its member patients only', async () => {
    const { byType } = await exportAll(exporter, '/fhir/Group/xg1/$export?_type=Patient,Immunization');
    assert.deepEqual(idsOf(byType, 'Patient'), ['xp1', 'xp3']);
    assert.deepEqual(idsOf(byType, 'Immunization'), ['xi1', 'xi2', 'xi4']);
  });

  test("an organization-scoped caller exports its organization's patients only; others see 404", async () => {
    const statusPath = await kickOff(org1, '/fhir/$export?_type=Patient,Immunization');
    const manifest = await finished(org1, statusPath);
    const byType = await download(org1, manifest);
    assert.deepEqual(idsOf(byType, 'Patient'), ['xp1', 'xp2']);
    assert.deepEqual(idsOf(byType, 'Immunization'), ['xi1', 'xi2', 'xi3']);

    const filePath = new URL(manifest.output[0]?.url ?? '').pathname;
    for (const [method, url] of [
      ['GET', statusPath],
      ['GET', filePath],
      ['DELETE', statusPath],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: bearer(stranger) });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
    }
    const jobId = statusPath.split('/').pop() ?? '';
    for (const file of ['..%2F..%2Fsecret', 'Patient-9.ndjson', '%2E%2E']) {
      const res = await t.app.inject({
        method: 'GET',
        url: `/fhir/$export-file/${jobId}/${file}`,
        headers: bearer(org1),
      });
      // Dot segments are resolved by the router before any export route is matched.
      if (file === '%2E%2E') assert.notEqual(res.statusCode, 200);
      else assert.equal(res.statusCode, 404, file);
    }
    const still = await t.app.inject({ method: 'GET', url: statusPath, headers: bearer(org1) });
    assert.equal(still.statusCode, 200);
  });

  test('cancelling answers 202, removes the files, and the job is gone', async () => {
    const statusPath = await kickOff(exporter, '/fhir/$export?_type=Patient,Immunization');
    const jobId = statusPath.split('/').pop() ?? '';
    const cancelled = await t.app.inject({ method: 'DELETE', url: statusPath, headers: bearer(exporter) });
    assert.equal(cancelled.statusCode, 202);
    const gone = await t.app.inject({ method: 'GET', url: statusPath, headers: bearer(exporter) });
    assert.equal(gone.statusCode, 404);
    const again = await t.app.inject({ method: 'DELETE', url: statusPath, headers: bearer(exporter) });
    assert.equal(again.statusCode, 404);
    await eventually(async () => {
      const job = await exportJobs.get(t.runtime.ctx.db, jobId);
      const keys: string[] = [];
      for await (const entry of t.runtime.ctx.storage.list(`exports/${jobId}/`)) keys.push(entry.key);
      return job?.status === 'cancelled' && keys.length === 0 ? true : undefined;
    }, 'the files of the cancelled export to be removed');
  });

  test('at most two exports per caller are in progress at once', async () => {
    const limited = await tokenFor(t, ['integration'], { organizationId: 'org1' });
    const owner = `user/${subjectOf(limited)}`;
    // Jobs no worker picks up (no event): they stay pending.
    for (let i = 0; i < 2; i += 1) {
      await exportJobs.insert(t.runtime.ctx.db, {
        id: randomUUID(),
        requestedBy: owner,
        scope: { scope: { kind: 'none' }, types: [] },
        requestUrl: 'http://iris.test/fhir/$export',
        params: { level: 'system' },
      });
    }
    const res = await t.app.inject({
      method: 'GET',
      url: '/fhir/$export',
      headers: { ...ASYNC, ...bearer(limited) },
    });
    assert.equal(res.statusCode, 429);
    assert.equal(res.json().resourceType, 'OperationOutcome');
  });

  test('kick-off, completion, manifest reads and downloads are audited with the patients disclosed', async () => {
    const statusPath = await kickOff(org1, '/fhir/$export?_type=Immunization');
    const jobId = statusPath.split('/').pop() ?? '';
    await download(org1, await finished(org1, statusPath));
    const actor = subjectOf(org1);
    const entries = await eventually(async () => {
      const { rows } = await t.runtime.ctx.db.query<{ doc: Record<string, unknown> }>(
        `SELECT doc FROM audit_log WHERE doc->>'action' IN ('fhir.export', 'fhir.export.download')
           AND doc->'details'->>'jobId' = $1`,
        [jobId],
      );
      return rows.length >= 4 ? rows.map((r) => r.doc) : undefined;
    }, 'the export audit entries');
    const phase = (e: Record<string, unknown>) => (e.details as { phase?: string }).phase;
    for (const e of entries) assert.equal((e.actor as { id: string }).id, actor);
    assert.ok(entries.some((e) => e.action === 'fhir.export' && phase(e) === 'kick-off'));
    assert.ok(entries.some((e) => e.action === 'fhir.export' && phase(e) === 'manifest'));
    const completed = entries.find((e) => e.action === 'fhir.export' && phase(e) === 'completed');
    assert.deepEqual([...((completed?.patientIds as string[]) ?? [])].sort(), ['xp1', 'xp2']);
    const downloaded = entries.find((e) => e.action === 'fhir.export.download');
    assert.deepEqual([...((downloaded?.patientIds as string[]) ?? [])].sort(), ['xp1', 'xp2']);
  });

  test('large exports are split into files and paged; a finished job is not redone', async () => {
    const rt = fhirStore(t.runtime.ctx).runtime;
    const id = randomUUID();
    await exportJobs.insert(t.runtime.ctx.db, {
      id,
      requestedBy: 'user/nobody',
      scope: { scope: { kind: 'all' }, types: ['Immunization'] },
      requestUrl: 'http://iris.test/fhir/$export?_type=Immunization',
      params: { level: 'system' },
    });
    await runExport(rt, t.runtime.ctx.storage, id, { pageSize: 2, perFile: 3 });
    const done = await exportJobs.get(t.runtime.ctx.db, id);
    assert.equal(done?.status, 'completed');
    assert.deepEqual(
      done?.manifest?.output.map((f) => [f.file, f.count]),
      [
        ['Immunization-1.ndjson', 3],
        ['Immunization-2.ndjson', 1],
      ],
    );
    await runExport(rt, t.runtime.ctx.storage, id, { pageSize: 2, perFile: 1 });
    const again = await exportJobs.get(t.runtime.ctx.db, id);
    assert.deepEqual(again?.manifest, done?.manifest);
  });

  test('an export that keeps failing is reported as a 500 OperationOutcome', async () => {
    const id = randomUUID();
    await exportJobs.insert(t.runtime.ctx.db, {
      id,
      requestedBy: `user/${subjectOf(exporter)}`,
      scope: { scope: { kind: 'all' }, types: ['Patient'] },
      requestUrl: 'http://iris.test/fhir/$export?_type=Patient',
      params: { level: 'system' },
    });
    const storage = t.runtime.ctx.storage;
    const broken: ObjectStorage = Object.assign(Object.create(storage) as ObjectStorage, {
      put: () => Promise.reject(new Error('disk full')),
      list: (prefix?: string) => storage.list(prefix),
      delete: (key: string) => storage.delete(key),
    });
    const subscriber = exportSubscriber(fhirStore(t.runtime.ctx).runtime, broken, t.runtime.ctx.logger);
    const event = { payload: { jobId: id } } as unknown as DomainEvent;
    const delivery = { publish: () => Promise.reject(new Error('unused')) };
    await assert.rejects(subscriber.handle(event, { attempt: 1, ...delivery }), /disk full/);
    await subscriber.handle(event, { attempt: 3, ...delivery });
    const res = await t.app.inject({
      method: 'GET',
      url: `/fhir/$export-status/${id}`,
      headers: bearer(exporter),
    });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().resourceType, 'OperationOutcome');
    assert.equal(res.json().issue[0].code, 'exception');
  });

  test('the hourly sweep removes expired exports, rows and files', async () => {
    const statusPath = await kickOff(exporter, '/fhir/$export?_type=Patient');
    await finished(exporter, statusPath);
    const jobId = statusPath.split('/').pop() ?? '';
    await t.runtime.ctx.db.query(
      `UPDATE fhir_export_jobs SET expires_at = now() - interval '1 minute' WHERE id = $1`,
      [jobId],
    );
    const expired = await t.app.inject({ method: 'GET', url: statusPath, headers: bearer(exporter) });
    assert.equal(expired.statusCode, 404);
    const job = exportCleanupJob(fhirStore(t.runtime.ctx).runtime, t.runtime.ctx.storage);
    await job.run({ scheduledFor: new Date(), signal: new AbortController().signal });
    assert.equal(await exportJobs.get(t.runtime.ctx.db, jobId), undefined);
    const keys: string[] = [];
    for await (const entry of t.runtime.ctx.storage.list(`exports/${jobId}/`)) keys.push(entry.key);
    assert.deepEqual(keys, []);
  });

  test('the CapabilityStatement lists the three export operations', async () => {
    const cs = (await t.app.inject({ method: 'GET', url: '/fhir/metadata' })).json();
    const rest = cs.rest[0];
    const defOf = (ops: Array<{ name: string; definition: string }> | undefined) =>
      ops?.find((o) => o.name === 'export')?.definition;
    assert.equal(defOf(rest.operation), 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export');
    const resource = (type: string) => rest.resource.find((r: { type: string }) => r.type === type);
    assert.equal(
      defOf(resource('Patient').operation),
      'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
    );
    assert.equal(
      defOf(resource('Group').operation),
      'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
    );
    assert.equal(defOf(resource('Immunization').operation), undefined);
  });
});
