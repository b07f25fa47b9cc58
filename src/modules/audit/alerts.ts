import type { Database, Queryable } from '../../platform/db/types.js';
import type { Logger } from '../../platform/observability/logger.js';
import type { ChainedEntry } from './chain.js';
import { ALERTS_LOCK } from './repo.js';
import { loginSubject } from './reports.js';

export interface AlertRules {
  /** At least `threshold` failed logins for one account within `windowMinutes`. */
  failedLogins: { threshold: number; windowMinutes: number };
  /** More than `distinctPatients` patients touched by one user within `windowMinutes`. */
  phiVolume: { distinctPatients: number; windowMinutes: number };
  /** PHI access outside [startHour, endHour) in `timeZone`; null switches the rule off. */
  allowedHours: { startHour: number; endHour: number; timeZone: string } | null;
  /** Patients whose every access raises an alert (VIPs, staff, protected records). */
  restrictedPatients?: (patientIds: string[]) => Promise<string[]>;
}

export const DEFAULT_ALERT_RULES: AlertRules = {
  failedLogins: { threshold: 5, windowMinutes: 15 },
  phiVolume: { distinctPatients: 100, windowMinutes: 60 },
  allowedHours: null,
};

export type AlertSeverity = 'low' | 'medium' | 'high' | 'critical';

export interface NewAlert {
  rule: string;
  severity: AlertSeverity;
  subject: string;
  /** Identical keys are one alert: re-evaluating or repeated triggers within a window add nothing. */
  dedupeKey: string;
  seq: number | null;
  summary: string;
  details: Record<string, unknown>;
}

export interface Alert extends Omit<NewAlert, 'dedupeKey'> {
  id: number;
  createdAt: string;
  status: 'open' | 'acknowledged';
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  deliveredAt: string | null;
}

/** Where alerts go (a SIEM, an on-call tool). */
export interface AlertNotifier {
  deliver(alert: Alert): Promise<void>;
}

export class WebhookAlertNotifier implements AlertNotifier {
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  async deliver(alert: Alert): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'iris.audit.alert', alert }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new Error(`alert webhook answered ${response.status}`);
  }
}

/** User-patient pairs remembered as stored lately, at most (a few MB); past it, forgotten at once. */
const MAX_PHI_WRITTEN = 100_000;

/** Chained texts kept for evaluation at most (about 10 MB). */
const MAX_RECENT = 20_000;

const PHI_ACTIONS = /^(fhir\.|phi\.|patient\.|export\.)/;

function bucket(iso: string, minutes: number): number {
  return Math.floor(Date.parse(iso) / (minutes * 60_000));
}

function localHour(iso: string, timeZone: string): number {
  const hour = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone }).format(
    new Date(iso),
  );
  return Number(hour);
}

/**
 * Notes who touched which patient when (one row per pair, latest time kept), and forgets pairs
 * that left the window of the newest entry. A pair's time is refreshed only once it is a
 * sixtieth of the window old: a clinician reopening the same chart all day would otherwise
 * rewrite its row (and three index entries) at every access. The count can therefore miss a
 * pair whose last access lies in the oldest sixtieth of the window (one minute of an hour).
 *
 * `written` holds what this process stored lately (epoch ms per pair); pairs it shows fresh are
 * not sent at all. Returns the pairs stored now, to be added to it once the transaction commits.
 */
async function recordPhiAccess(
  tx: Queryable,
  touched: Map<string, string>,
  windowMinutes: number,
  written: ReadonlyMap<string, number>,
): Promise<Map<string, number>> {
  const stored = new Map<string, number>();
  if (touched.size === 0) return stored;
  const refreshMs = windowMinutes * 1000;
  const actors: string[] = [];
  const patients: string[] = [];
  const times: string[] = [];
  let newest = '';
  for (const [key, time] of touched) {
    if (time > newest) newest = time;
    const known = written.get(key);
    if (known !== undefined && known >= Date.parse(time) - refreshMs) continue;
    const at = key.indexOf('\u0000');
    actors.push(key.slice(0, at));
    patients.push(key.slice(at + 1));
    times.push(time);
  }
  if (actors.length > 0) {
    const { rows } = await tx.query<{ actor_id: string; patient_id: string }>(
      `INSERT INTO audit_phi_access (actor_id, patient_id, last_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
       ON CONFLICT (actor_id, patient_id) DO UPDATE SET last_at = excluded.last_at
         WHERE audit_phi_access.last_at < excluded.last_at - make_interval(secs => $4)
       RETURNING actor_id, patient_id`,
      [actors, patients, times, windowMinutes],
      { name: 'audit_phi_access_upsert' },
    );
    for (const r of rows) {
      const key = `${r.actor_id}\u0000${r.patient_id}`;
      stored.set(key, Date.parse(touched.get(key)!));
    }
  }
  await tx.query(
    `DELETE FROM audit_phi_access WHERE last_at <= $1::timestamptz - make_interval(mins => $2)`,
    [newest, windowMinutes],
    { name: 'audit_phi_access_expire' },
  );
  return stored;
}

/**
 * Evaluates rules over chained entries exactly once: a cursor row under an advisory lock says
 * how far evaluation got, so any number of processes may call {@link process}; window counts
 * come from the log itself, so they include entries other processes wrote.
 */
export class AlertEngine {
  /** Canonical texts this process chained, from `firstSeq` on, not yet evaluated. */
  private recent: { firstSeq: number; texts: string[] } | null = null;
  /** User-patient pairs whose access time this process stored lately (epoch ms). */
  private readonly phiWritten = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly rules: AlertRules = DEFAULT_ALERT_RULES,
    private readonly notifier: AlertNotifier | null = null,
    private readonly maxAttempts = 8,
  ) {}

  /**
   * Keeps what this process just chained, so that evaluating it does not read it back from
   * the log. Only a run contiguous with what is kept is added; anything else (entries other
   * processes chained, a backlog beyond the bound) is read from the log as before.
   */
  note(firstSeq: number, texts: readonly string[]): void {
    const r = this.recent;
    if (r && r.firstSeq + r.texts.length === firstSeq && r.texts.length + texts.length <= MAX_RECENT) {
      r.texts.push(...texts);
    } else {
      this.recent = texts.length <= MAX_RECENT ? { firstSeq, texts: [...texts] } : null;
    }
  }

  /** Entries after `cursor` from what {@link note} kept, or null when they are not there. */
  private takeRecent(cursor: number, limit: number): Array<{ seq: number; doc: ChainedEntry }> | null {
    const r = this.recent;
    if (!r) return null;
    const start = cursor + 1 - r.firstSeq;
    // Evaluation went past what is kept (another process's run, say): it is no longer of use.
    if (start >= r.texts.length) {
      this.recent = null;
      return null;
    }
    // Entries before what is kept come from the log first.
    if (start < 0) return null;
    const texts = r.texts.slice(start, start + limit);
    r.texts.splice(0, start + texts.length);
    r.firstSeq = cursor + 1 + texts.length;
    return texts.map((text, i) => ({ seq: cursor + 1 + i, doc: JSON.parse(text) as ChainedEntry }));
  }

  /** Evaluates entries chained since the last call; returns the alerts raised. */
  async process(batchSize = 5000): Promise<number> {
    let raised = 0;
    for (;;) {
      const { count, created, phiStored } = await this.db.transaction(async (tx) => {
        const locked = await tx.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_xact_lock($1) AS ok',
          [ALERTS_LOCK],
          { name: 'audit_alert_lock' },
        );
        if (!locked.rows[0]?.ok) return { count: 0, created: 0, phiStored: null };
        const cursor =
          (
            await tx.query<{ seq: number }>('SELECT seq FROM audit_alert_cursor WHERE id = 1', [], {
              name: 'audit_alert_cursor_read',
            })
          ).rows[0]?.seq ?? 0;
        const rows =
          this.takeRecent(cursor, batchSize) ??
          (
            await tx.query<{ seq: number; doc: ChainedEntry }>(
              'SELECT seq, doc FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
              [cursor, batchSize],
              { name: 'audit_alert_entries' },
            )
          ).rows;
        if (rows.length === 0) return { count: 0, created: 0, phiStored: null };
        const { alerts, phiStored } = await this.evaluate(tx, rows);
        let n = 0;
        for (const a of alerts) n += await insertAlert(tx, a);
        await tx.query('UPDATE audit_alert_cursor SET seq = $1 WHERE id = 1', [rows[rows.length - 1]!.seq], {
          name: 'audit_alert_cursor_update',
        });
        return { count: rows.length, created: n, phiStored };
      });
      if (phiStored) {
        if (this.phiWritten.size + phiStored.size > MAX_PHI_WRITTEN) this.phiWritten.clear();
        for (const [key, at] of phiStored) this.phiWritten.set(key, at);
      }
      raised += created;
      if (count < batchSize) break;
    }
    // Also retries earlier deliveries that failed.
    await this.deliverPending();
    return raised;
  }

  private async evaluate(
    tx: Queryable,
    rows: Array<{ seq: number; doc: ChainedEntry }>,
  ): Promise<{ alerts: NewAlert[]; phiStored: Map<string, number> }> {
    const out: NewAlert[] = [];
    const failed = new Map<string, { seq: number; time: string }>();
    const phiUsers = new Map<string, { seq: number; time: string }>();
    /** Latest access per `actor\u0000patient` in this batch. */
    const touched = new Map<string, string>();
    for (const { seq, doc } of rows) {
      if (doc.action.startsWith('break_glass.')) {
        out.push({
          rule: 'break_glass',
          severity: 'high',
          subject: doc.actor?.id ?? 'unknown',
          dedupeKey: `break_glass:${seq}`,
          seq,
          summary: `break-glass ${doc.action.slice('break_glass.'.length)} by ${doc.actor?.id ?? 'unknown'}`,
          details: { action: doc.action, patients: doc.patientIds.length },
        });
      }
      const isFailedLogin =
        (doc.action === 'auth.login' && doc.outcome !== 'success') || doc.action === 'user.login_failed';
      if (isFailedLogin) failed.set(loginSubject(doc), { seq, time: doc.recordedAt });
      const touchesPhi =
        doc.patientIds.length > 0 && PHI_ACTIONS.test(doc.action) && doc.actor?.type === 'user';
      if (touchesPhi && doc.actor) {
        phiUsers.set(doc.actor.id, { seq, time: doc.recordedAt });
        for (const p of doc.patientIds) touched.set(`${doc.actor.id}\u0000${p}`, doc.recordedAt);
        const hours = this.rules.allowedHours;
        if (hours) {
          const h = localHour(doc.time, hours.timeZone);
          if (h < hours.startHour || h >= hours.endHour) {
            out.push({
              rule: 'outside_hours',
              severity: 'medium',
              subject: doc.actor.id,
              dedupeKey: `outside_hours:${doc.actor.id}:${doc.time.slice(0, 13)}`,
              seq,
              summary: `PHI accessed at ${String(h).padStart(2, '0')}h (${hours.timeZone}), outside allowed hours`,
              details: { action: doc.action, hour: h },
            });
          }
        }
      }
      if (doc.patientIds.length > 0 && this.rules.restrictedPatients) {
        const restricted = await this.rules.restrictedPatients(doc.patientIds);
        for (const p of restricted) {
          out.push({
            rule: 'restricted_patient',
            severity: 'high',
            subject: doc.actor?.id ?? 'unknown',
            dedupeKey: `restricted_patient:${seq}:${p}`,
            seq,
            summary: `access to a restricted patient record by ${doc.actor?.id ?? 'unknown'}`,
            details: { patientId: p, action: doc.action },
          });
        }
      }
    }
    const fl = this.rules.failedLogins;
    for (const [subject, at] of failed) {
      const { rows: c } = await tx.query<{ n: number }>(
        `SELECT count(*)::int8 AS n FROM audit_log
          WHERE ((doc->>'action' = 'auth.login' AND doc->>'outcome' <> 'success') OR doc->>'action' = 'user.login_failed')
            AND coalesce(doc->'actor'->>'id', doc->'details'->>'username', 'unknown') = $1
            AND recorded_at > $2::timestamptz - make_interval(mins => $3) AND seq <= $4`,
        [subject, at.time, fl.windowMinutes, at.seq],
      );
      const n = c[0]?.n ?? 0;
      if (n >= fl.threshold) {
        out.push({
          rule: 'failed_logins',
          severity: 'high',
          subject,
          dedupeKey: `failed_logins:${subject}:${bucket(at.time, fl.windowMinutes)}`,
          seq: at.seq,
          summary: `${n} failed logins for ${subject} within ${fl.windowMinutes} minutes`,
          details: { failures: n, windowMinutes: fl.windowMinutes },
        });
      }
    }
    const pv = this.rules.phiVolume;
    const phiStored = await recordPhiAccess(tx, touched, pv.windowMinutes, this.phiWritten);
    for (const [user, at] of phiUsers) {
      // Only whether the count passes the threshold matters: at most threshold + 1 rows are read.
      const { rows: c } = await tx.query<{ n: number }>(
        `SELECT count(*)::int8 AS n FROM (SELECT 1 FROM audit_phi_access
          WHERE actor_id = $1 AND last_at > $2::timestamptz - make_interval(mins => $3) LIMIT $4) x`,
        [user, at.time, pv.windowMinutes, pv.distinctPatients + 1],
        { name: 'audit_phi_access_count' },
      );
      const n = c[0]?.n ?? 0;
      if (n > pv.distinctPatients) {
        out.push({
          rule: 'phi_volume',
          severity: 'high',
          subject: user,
          dedupeKey: `phi_volume:${user}:${bucket(at.time, pv.windowMinutes)}`,
          seq: at.seq,
          summary: `${user} accessed more than ${pv.distinctPatients} distinct patients within ${pv.windowMinutes} minutes`,
          details: { distinctPatientsOver: pv.distinctPatients, windowMinutes: pv.windowMinutes },
        });
      }
    }
    return { alerts: out, phiStored };
  }

  /** Raises an alert from outside the rules (a failed verification). */
  async raise(alert: NewAlert): Promise<void> {
    const n = await insertAlert(this.db, alert);
    if (n > 0) await this.deliverPending();
  }

  /** Delivers undelivered alerts, each with a few quick retries; later ticks retry the rest. */
  async deliverPending(): Promise<number> {
    if (!this.notifier) return 0;
    const { rows } = await this.db.query<AlertRow>(
      `SELECT * FROM audit_alerts WHERE delivered_at IS NULL AND delivery_attempts < $1 ORDER BY id LIMIT 100`,
      [this.maxAttempts],
    );
    let delivered = 0;
    for (const row of rows) {
      const alert = toAlert(row);
      let lastError: unknown = null;
      for (const delay of [0, 200, 1000]) {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        try {
          await this.notifier.deliver(alert);
          lastError = null;
          break;
        } catch (error) {
          lastError = error;
        }
      }
      if (lastError === null) {
        await this.db.query(
          'UPDATE audit_alerts SET delivered_at = now(), delivery_attempts = delivery_attempts + 1, last_error = NULL WHERE id = $1',
          [row.id],
        );
        delivered += 1;
      } else {
        const message = (lastError as Error).message ?? String(lastError);
        await this.db.query(
          'UPDATE audit_alerts SET delivery_attempts = delivery_attempts + 1, last_error = $2 WHERE id = $1',
          [row.id, message.slice(0, 500)],
        );
        this.logger.warn({ alertId: row.id, err: lastError }, 'audit alert delivery failed');
      }
    }
    return delivered;
  }
}

interface AlertRow {
  id: number;
  rule: string;
  severity: AlertSeverity;
  subject: string;
  seq: number | null;
  summary: string;
  details: Record<string, unknown>;
  created_at: Date;
  status: 'open' | 'acknowledged';
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  delivered_at: Date | null;
}

function toAlert(r: AlertRow): Alert {
  return {
    id: r.id,
    rule: r.rule,
    severity: r.severity,
    subject: r.subject,
    seq: r.seq,
    summary: r.summary,
    details: r.details,
    createdAt: r.created_at.toISOString(),
    status: r.status,
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: r.acknowledged_at?.toISOString() ?? null,
    deliveredAt: r.delivered_at?.toISOString() ?? null,
  };
}

async function insertAlert(q: Queryable, a: NewAlert): Promise<number> {
  const { rowCount } = await q.query(
    `INSERT INTO audit_alerts (rule, severity, subject, dedupe_key, seq, summary, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING`,
    [a.rule, a.severity, a.subject, a.dedupeKey, a.seq, a.summary, JSON.stringify(a.details)],
    { name: 'audit_alert_insert' },
  );
  return rowCount;
}

export async function listAlerts(
  db: Queryable,
  filter: { status?: 'open' | 'acknowledged'; afterId?: number; limit?: number },
): Promise<Alert[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT * FROM audit_alerts WHERE ($1::text IS NULL OR status = $1) AND id > $2 ORDER BY id LIMIT $3`,
    [filter.status ?? null, filter.afterId ?? 0, Math.min(filter.limit ?? 100, 1000)],
  );
  return rows.map(toAlert);
}

/** Marks an alert acknowledged; null when there is no such alert. */
export async function acknowledgeAlert(db: Queryable, id: number, by: string): Promise<Alert | null> {
  const { rows } = await db.query<AlertRow>(
    `UPDATE audit_alerts SET status = 'acknowledged', acknowledged_by = coalesce(acknowledged_by, $2),
            acknowledged_at = coalesce(acknowledged_at, now())
      WHERE id = $1 RETURNING *`,
    [id, by],
  );
  return rows[0] ? toAlert(rows[0]) : null;
}
