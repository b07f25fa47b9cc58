import type { AuditRecord } from '../../../platform/audit/port.js';
import type { ObjectStorage } from '../../../platform/storage/port.js';
import { ROW_COLUMNS, type Row } from '../repo.js';
import { Params, scopeSql } from '../search/scope.js';
import { auditEntry, type FhirRuntime } from '../store/context.js';
import { decode } from '../store/read.js';
import { scopedQueryable } from '../store/row-security.js';
import { actorOf, exportJobs, exportPrefix, type ExportFile, type ExportJob } from './jobs.js';

export const NDJSON = 'application/fhir+ndjson';

export interface ExportRunOptions {
  /** Resources read per query; cancellation is checked between pages. */
  pageSize?: number;
  /** Resources per NDJSON file before a new file is started. */
  perFile?: number;
}

/**
 * An export file as stored: NDJSON holds decrypted PHI, so it is sealed like a resource version
 * (a data key per file, wrapped by the keyring, bound to the job and file name) before it
 * reaches object storage, and opened only to answer its owner's download.
 */
export function sealExportFile(rt: FhirRuntime, jobId: string, file: string, ndjson: string): Buffer {
  const sealed = rt.cipher.seal('ExportFile', `${jobId}/${file}`, 1, ndjson);
  return Buffer.from(
    JSON.stringify({
      kid: sealed.kid,
      wrappedKey: sealed.wrappedKey.toString('base64'),
      iv: sealed.iv.toString('base64'),
      content: sealed.content.toString('base64'),
    }),
  );
}

export function openExportFile(rt: FhirRuntime, jobId: string, file: string, stored: Buffer): string {
  const sealed = JSON.parse(stored.toString('utf8')) as Record<
    'kid' | 'wrappedKey' | 'iv' | 'content',
    string
  >;
  return rt.cipher.open('ExportFile', `${jobId}/${file}`, 1, {
    kid: sealed.kid,
    wrappedKey: Buffer.from(sealed.wrappedKey, 'base64'),
    iv: Buffer.from(sealed.iv, 'base64'),
    content: Buffer.from(sealed.content, 'base64'),
  });
}

/** Patient ids per audit entry of a completed export, to keep each entry a sane size. */
const AUDIT_CHUNK = 1000;

/** Removes every stored file of a job. */
export async function removeExportFiles(storage: ObjectStorage, jobId: string): Promise<void> {
  const keys: string[] = [];
  for await (const entry of storage.list(exportPrefix(jobId))) keys.push(entry.key);
  for (const key of keys) await storage.delete(key);
}

/** One page of a type's matches, in id order after `after`, as the job's snapshot allows. */
async function page(
  rt: FhirRuntime,
  job: ExportJob,
  type: string,
  transactionTime: string,
  after: string | undefined,
  size: number,
): Promise<Row[]> {
  const params = new Params();
  const where = [
    `r.resource_type = ${params.add(type)}`,
    'NOT r.deleted',
    // A consistent cut: a later export with _since=transactionTime picks up what follows.
    `r.last_updated <= ${params.add(transactionTime)}::timestamptz`,
    scopeSql(job.scope.scope, 'r', params),
  ];
  const { level, since, patients } = job.params;
  if (since) where.push(`r.last_updated > ${params.add(since)}::timestamptz`);
  const member =
    'SELECT 1 FROM fhir_compartment ec WHERE ec.resource_type = r.resource_type AND ec.resource_id = r.id';
  if (level === 'patient') where.push(`EXISTS (${member})`);
  if (level === 'group')
    where.push(`EXISTS (${member} AND ec.patient_id = ANY(${params.add(patients ?? [])}::text[]))`);
  if (after !== undefined) where.push(`r.id > ${params.add(after)}`);
  const { rows } = await scopedQueryable(rt.db, job.scope.scope).query<Row>(
    `SELECT ${ROW_COLUMNS} FROM fhir_resource r WHERE ${where.join(' AND ')} ORDER BY r.id LIMIT ${size}`,
    params.values,
  );
  return rows;
}

/** The types that have any current resource the job may see, so an export skips the empty ones. */
async function storedTypes(rt: FhirRuntime, job: ExportJob): Promise<string[]> {
  const types = job.scope.types;
  const { rows } = await scopedQueryable(rt.db, job.scope.scope).query<{ t: string }>(
    `SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)
     WHERE EXISTS (SELECT 1 FROM fhir_resource r WHERE r.resource_type = u.t AND NOT r.deleted)
     ORDER BY n`,
    [types],
  );
  return rows.map((r) => r.t);
}

function completionAudit(job: ExportJob, files: ExportFile[]): AuditRecord[] {
  const patients = [...new Set(files.flatMap((f) => f.patients))].sort();
  const base = {
    action: 'fhir.export',
    outcome: 'success' as const,
    ...(job.params.groupId ? { resource: { type: 'Group', id: job.params.groupId } } : {}),
  };
  const details = {
    jobId: job.id,
    phase: 'completed',
    files: files.length,
    resources: files.reduce((n, f) => n + f.count, 0),
  };
  const entries: AuditRecord[] = [];
  for (let i = 0; i === 0 || i < patients.length; i += AUDIT_CHUNK) {
    const record = auditEntry(
      { actor: actorOf(job.requestedBy), scope: job.scope.scope },
      { ...base, patientIds: patients.slice(i, i + AUDIT_CHUNK), details },
    );
    entries.push(record);
  }
  return entries;
}

/**
 * Runs one export job: for each type, pages through the matches and writes NDJSON files of at
 * most `perFile` resources, then stores the manifest and audits the disclosure. A job that is
 * finished, cancelled or gone is left alone; a cancellation seen between pages stops the run
 * and removes what was written.
 */
export async function runExport(
  rt: FhirRuntime,
  storage: ObjectStorage,
  jobId: string,
  options: ExportRunOptions = {},
): Promise<void> {
  const pageSize = options.pageSize ?? 1000;
  const perFile = options.perFile ?? 10_000;
  const job = await exportJobs.start(rt.db, jobId);
  if (!job) return;
  // A redelivered job starts over: files of an interrupted attempt must not linger.
  await removeExportFiles(storage, jobId);
  const transactionTime = new Date().toISOString();
  const files: ExportFile[] = [];
  const abandon = () => removeExportFiles(storage, jobId);

  for (const type of await storedTypes(rt, job)) {
    let lines: string[] = [];
    let patients = new Set<string>();
    let exported = 0;
    const flush = async () => {
      if (lines.length === 0) return;
      const file = `${type}-${files.filter((f) => f.type === type).length + 1}.ndjson`;
      await storage.put(
        `${exportPrefix(jobId)}${file}`,
        sealExportFile(rt, jobId, file, `${lines.join('\n')}\n`),
        { contentType: 'application/octet-stream' },
      );
      files.push({ type, file, count: lines.length, patients: [...patients] });
      lines = [];
      patients = new Set();
    };
    let after: string | undefined;
    for (;;) {
      const rows = await page(rt, job, type, transactionTime, after, pageSize);
      for (const row of rows) {
        lines.push(JSON.stringify(decode(rt, row)));
        for (const p of row.patients) patients.add(p);
        if (lines.length >= perFile) await flush();
      }
      exported += rows.length;
      after = rows[rows.length - 1]?.id;
      if (!(await exportJobs.progress(rt.db, jobId, `${type}: ${exported} resources`))) return abandon();
      if (rows.length < pageSize) break;
    }
    await flush();
  }

  const manifest = { transactionTime, output: files };
  const completed = await rt.db.transaction(async (tx) => {
    if (!(await exportJobs.complete(tx, jobId, manifest))) return false;
    if (rt.audit) await rt.audit.recordMany(completionAudit(job, files), tx);
    return true;
  });
  if (!completed) await abandon();
}
