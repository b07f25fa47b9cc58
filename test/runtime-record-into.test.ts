import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditServiceOf } from '../src/modules/audit/index.js';
import type { AuditRecord, AuditTrail } from '../src/platform/audit/port.js';
import { testApp } from './helpers/app.js';
import { bearer, tokenFor } from './helpers/users.js';

// The seam the audit price bench switches auditing off with: everything the modules record goes
// to the trail given, and the tamper-evident log receives none of it.
test('a runtime given recordInto has the modules record there and leaves the audit log empty', async () => {
  const kept: AuditRecord[] = [];
  const trail: AuditTrail = {
    record: (entry) => {
      kept.push(entry);
      return Promise.resolve();
    },
    recordMany: (entries) => {
      kept.push(...entries);
      return Promise.resolve();
    },
  };
  const t = await testApp({ IRIS_MFA_REQUIRED_ROLES: '' }, undefined, { recordInto: trail });
  try {
    const admin = await tokenFor(t, ['system_admin']);
    const put = await t.app.inject({
      method: 'PUT',
      url: '/fhir/Organization/seam-org',
      headers: { ...bearer(admin), 'content-type': 'application/fhir+json' },
      payload: { resourceType: 'Organization', id: 'seam-org', name: 'Seam' },
    });
    assert.equal(put.statusCode, 201, put.body);
    const read = await t.app.inject({
      method: 'GET',
      url: '/fhir/Organization/seam-org',
      headers: bearer(admin),
    });
    assert.equal(read.statusCode, 200, read.body);

    const actions = kept.map((entry) => entry.action);
    assert.ok(actions.includes('auth.login'), actions.join());
    assert.ok(
      kept.some((e) => e.action === 'fhir.read' && e.resource?.id === 'seam-org'),
      actions.join(),
    );
    await auditServiceOf(t.runtime.ctx).flush();
    const { rows } = await t.runtime.ctx.db.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM audit_log)::int + (SELECT count(*) FROM audit_intake)::int AS n',
    );
    assert.equal(rows[0]?.n, 0);
  } finally {
    await t.close();
  }
});
