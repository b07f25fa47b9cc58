import type { Bundle, FhirResource } from 'fhir/r4.js';
import { FHIR_JSON } from '../../../platform/http/error-response.js';
import { errors } from '../../../platform/http/errors.js';
import { callContext, guardFor, type Query } from '../http/request.js';
import { patientCompartmentTypes } from '../definitions/compartment.js';
import { ROW_COLUMNS, type Row } from '../repo.js';
import { DEFAULT_COUNT, MAX_COUNT, splitValues } from '../search/parse.js';
import { Params, scopeSql } from '../search/scope.js';
import { audit } from '../store/context.js';
import { decode, readResource } from '../store/read.js';
import { scopedQueryable } from '../store/row-security.js';
import type { InstanceParams, RouteDeps } from './common.js';

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** Patient/$everything: the patient and its compartment (`_since`, `_type`, `_count`, next links). */
export function registerEverything({ app, rt, access, caps }: RouteDeps): void {
  caps.operations.set('everything', { instance: true, types: ['Patient'] });
  app.get<{ Params: InstanceParams }>(
    '/fhir/Patient/:id/$everything',
    { preHandler: guardFor(access, 'read', 'Patient'), schema: { hide: true } },
    async (request, reply) => {
      const { id } = request.params;
      const ctx = callContext(request, access);
      const q = request.query as Query;
      await readResource(rt, ctx, 'Patient', id);
      const params = new Params();
      const where = [`c.patient_id = ${params.add(id)}`, 'NOT r.deleted', scopeSql(ctx.scope, 'r', params)];
      // Only the types the caller may read: a demographics-only role gets the Patient, not the chart.
      const { can } = ctx;
      if (can) {
        const readable = patientCompartmentTypes().filter((t) => can(t, 'read'));
        where.push(`r.resource_type = ANY(${params.add(['Patient', ...readable])}::text[])`);
      }
      const since = one(q._since);
      if (since) {
        if (Number.isNaN(new Date(since).getTime())) throw errors.badRequest('_since must be an instant');
        where.push(`r.last_updated >= ${params.add(since)}::timestamptz`);
      }
      const types = one(q._type);
      if (types) where.push(`r.resource_type = ANY(${params.add(splitValues(types))}::text[])`);
      const cursor = one(q._cursor);
      if (cursor) {
        const [t, i] = Buffer.from(cursor, 'base64url').toString('utf8').split('/');
        where.push(`(r.resource_type, r.id) > (${params.add(t)}, ${params.add(i)})`);
      }
      const count = Math.min(Number(one(q._count) ?? DEFAULT_COUNT) || DEFAULT_COUNT, MAX_COUNT);
      const rows = (
        await scopedQueryable(rt.db, ctx.scope).query<Row>(
          `SELECT ${ROW_COLUMNS} FROM fhir_compartment c JOIN fhir_resource r
             ON r.resource_type = c.resource_type AND r.id = c.resource_id
           WHERE ${where.join(' AND ')} ORDER BY r.resource_type, r.id LIMIT ${count + 1}`,
          params.values,
        )
      ).rows;
      const page = rows.slice(0, count);
      const self = `${rt.baseUrl}${request.url.replace(/^\/fhir/, '')}`;
      const link = [{ relation: 'self', url: self }];
      const last = page[page.length - 1];
      if (rows.length > count && last) {
        const next = new URL(self);
        next.searchParams.set(
          '_cursor',
          Buffer.from(`${last.resource_type}/${last.id}`).toString('base64url'),
        );
        link.push({ relation: 'next', url: next.toString() });
      }
      await audit(rt, ctx, {
        action: 'fhir.everything',
        outcome: 'success',
        patientIds: [id],
        resource: { type: 'Patient', id },
        details: { entries: page.length },
      });
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        link,
        entry: page.map((row) => ({
          fullUrl: `${rt.baseUrl}/${row.resource_type}/${row.id}`,
          resource: decode(rt, row) as FhirResource,
          search: { mode: 'match' },
        })),
      };
      return reply.type(FHIR_JSON).send(bundle);
    },
  );
}
