import type { Migration } from '../../platform/db/migrations.js';

/**
 * Tables of the audit module.
 *
 * - `audit_intake`: entries written inside callers' transactions, waiting to be chained. A queue:
 *   the sequencer deletes what it chains, in the same transaction.
 * - `audit_log`: the chain. Append-only (triggers), partitioned by month of `recorded_at`.
 *   `canonical` is the exact RFC 8785 text that was hashed; `doc` is generated from it by the
 *   database, so the columns that queries and reports use can never drift from the evidence.
 * - `audit_chain_head`: the sequencer's state (last seq/hash, Merkle frontier), one row.
 * - `audit_checkpoints`: signed Merkle roots, append-only; `audit_checkpoint_exports` records
 *   which sink received which checkpoint.
 * - `audit_alerts`, `audit_alert_cursor`, `audit_phi_access`: monitoring.
 * - `audit_archives`: partitions moved to object storage after the retention period.
 *
 * SECURITY DEFINER functions let an application role with INSERT/SELECT only create monthly
 * partitions and drop archived ones; they pin their search_path to the schema they live in.
 */
const tables = `
CREATE TABLE audit_intake (
  id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  body text NOT NULL
);

CREATE TABLE audit_log (
  seq bigint NOT NULL,
  recorded_at timestamptz NOT NULL,
  canonical text NOT NULL,
  hash text NOT NULL,
  doc jsonb GENERATED ALWAYS AS (canonical::jsonb) STORED,
  PRIMARY KEY (seq, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE INDEX audit_log_recorded_at ON audit_log (recorded_at);
CREATE INDEX audit_log_actor ON audit_log ((doc->'actor'->>'id'), seq);
CREATE INDEX audit_log_action ON audit_log ((doc->>'action'), seq);
CREATE INDEX audit_log_patients ON audit_log USING gin ((doc->'patientIds') jsonb_path_ops);

CREATE TABLE audit_chain_head (
  id int PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL,
  recorded_at timestamptz,
  frontier text[] NOT NULL,
  checkpoint_seq bigint NOT NULL,
  checkpoint_at timestamptz NOT NULL
);
INSERT INTO audit_chain_head VALUES (1, 0, '${'0'.repeat(64)}', NULL, '{}', 0, now());

CREATE TABLE audit_checkpoints (
  tree_size bigint PRIMARY KEY,
  root_hash text NOT NULL,
  last_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  kid text NOT NULL,
  payload text NOT NULL,
  signature text NOT NULL,
  frontier text[] NOT NULL
);

CREATE TABLE audit_checkpoint_exports (
  tree_size bigint NOT NULL REFERENCES audit_checkpoints (tree_size),
  sink text NOT NULL,
  exported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tree_size, sink)
);

CREATE TABLE audit_alerts (
  id bigserial PRIMARY KEY,
  rule text NOT NULL,
  severity text NOT NULL,
  subject text NOT NULL,
  dedupe_key text NOT NULL UNIQUE,
  seq bigint,
  summary text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
  acknowledged_by text,
  acknowledged_at timestamptz,
  delivered_at timestamptz,
  delivery_attempts int NOT NULL DEFAULT 0,
  last_error text
);
CREATE INDEX audit_alerts_open ON audit_alerts (status, id);
CREATE INDEX audit_alerts_undelivered ON audit_alerts (id) WHERE delivered_at IS NULL;

CREATE TABLE audit_alert_cursor (
  id int PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL
);
INSERT INTO audit_alert_cursor VALUES (1, 0);

CREATE TABLE audit_archives (
  partition_name text PRIMARY KEY,
  range_from timestamptz NOT NULL,
  range_to timestamptz NOT NULL,
  first_seq bigint,
  last_seq bigint,
  last_hash text,
  entries bigint NOT NULL,
  object_key text NOT NULL,
  sha256 text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_exports_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint_exports
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_exports_no_truncate BEFORE TRUNCATE ON audit_checkpoint_exports
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_archives_append_only BEFORE UPDATE OR DELETE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
`;

// Created through format() so that the functions pin the schema the migration ran in.
const functions = `
DO $do$
DECLARE
  s text := current_schema();
BEGIN
  EXECUTE format($f$
    CREATE FUNCTION %1$I.audit_ensure_partition(month date) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_catalog, pg_temp AS $fn$
    DECLARE
      m_start date := date_trunc('month', month)::date;
      part text := 'audit_log_' || to_char(m_start, 'YYYY_MM');
    BEGIN
      IF to_regclass(quote_ident(%1$L) || '.' || quote_ident(part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %%I.%%I PARTITION OF %%I.audit_log FOR VALUES FROM (%%L) TO (%%L)',
          %1$L, part, %1$L, m_start::timestamptz, (m_start + interval '1 month')::timestamptz);
        -- Statement triggers are not inherited: each partition refuses TRUNCATE itself.
        EXECUTE format('CREATE TRIGGER audit_partition_no_truncate BEFORE TRUNCATE ON %%I.%%I
          FOR EACH STATEMENT EXECUTE FUNCTION %%I.audit_reject_change()', %1$L, part, %1$L);
      END IF;
      RETURN part;
    END
    $fn$;
  $f$, s);

  EXECUTE format($f$
    CREATE FUNCTION %1$I.audit_drop_archived_partition(part_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_catalog, pg_temp AS $fn$
    DECLARE
      archived audit_archives%%ROWTYPE;
    BEGIN
      SELECT * INTO archived FROM audit_archives WHERE partition_name = part_name;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'partition %% has not been archived', part_name;
      END IF;
      -- HIPAA 164.316(b)(2): six years is the floor, whatever the application asks for.
      IF archived.range_to > now() - interval '6 years' THEN
        RAISE EXCEPTION 'partition %% is inside the six-year retention period', part_name;
      END IF;
      EXECUTE format('ALTER TABLE %%I.audit_log DETACH PARTITION %%I.%%I', %1$L, %1$L, part_name);
      EXECUTE format('DROP TABLE %%I.%%I', %1$L, part_name);
    END
    $fn$;
  $f$, s);

  PERFORM audit_ensure_partition(now()::date);
  PERFORM audit_ensure_partition((now() + interval '1 month')::date);
END
$do$;
`;

/**
 * Least privilege on a PostgreSQL server: when the database setting `iris.app_role` names an
 * existing role (set by the operator before migrating as the owner), that role gets INSERT and
 * SELECT on the evidence tables and nothing more. Otherwise (embedded, or one role for all)
 * nothing changes; docs/audit.md has the statements to run by hand.
 */
const privileges = `
DO $do$
DECLARE
  app text := nullif(current_setting('iris.app_role', true), '');
  s text := current_schema();
BEGIN
  EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I.audit_log, %I.audit_checkpoints, %I.audit_checkpoint_exports, %I.audit_archives FROM PUBLIC', s, s, s, s);
  IF app IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
    RETURN;
  END IF;
  IF app = current_user THEN
    RAISE EXCEPTION 'iris.app_role (%) must differ from the role that owns the audit tables', app;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, app);
  EXECUTE format('REVOKE ALL ON %I.audit_log, %I.audit_checkpoints, %I.audit_checkpoint_exports, %I.audit_archives FROM %I', s, s, s, s, app);
  EXECUTE format('GRANT SELECT, INSERT ON %I.audit_log, %I.audit_checkpoints, %I.audit_checkpoint_exports, %I.audit_archives TO %I', s, s, s, s, app);
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON %I.audit_intake TO %I', s, app);
  EXECUTE format('GRANT SELECT, UPDATE ON %I.audit_chain_head, %I.audit_alert_cursor TO %I', s, s, app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.audit_alerts TO %I', s, app);
  EXECUTE format('GRANT USAGE ON SEQUENCE %I.audit_intake_id_seq, %I.audit_alerts_id_seq TO %I', s, s, app);
  EXECUTE format('GRANT EXECUTE ON FUNCTION %I.audit_ensure_partition(date), %I.audit_drop_archived_partition(text) TO %I', s, s, app);
END
$do$;
`;

/**
 * Monitoring state for the unusual-PHI-volume rule: when each user last touched each patient.
 * The rule used to count distinct patients over every entry of the user's window in the log,
 * a scan that grew with traffic (a user reading 500 records a second for an hour meant 1.8M
 * entries per evaluation); this table answers "more than N patients?" by reading N + 1 rows.
 * Derived from the chained log, so not evidence: old rows are deleted as the window moves.
 */
const phiAccessWindow = `
CREATE TABLE audit_phi_access (
  actor_id text NOT NULL,
  patient_id text NOT NULL,
  last_at timestamptz NOT NULL,
  PRIMARY KEY (actor_id, patient_id)
);
CREATE INDEX audit_phi_access_recent ON audit_phi_access (actor_id, last_at);
CREATE INDEX audit_phi_access_expiry ON audit_phi_access (last_at);
DO $do$
DECLARE
  app text := nullif(current_setting('iris.app_role', true), '');
BEGIN
  IF app IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.audit_phi_access TO %I', current_schema(), app);
  END IF;
END
$do$;
`;

export const auditMigrations: Migration[] = [
  { id: 'audit/0001_tables', sql: tables },
  { id: 'audit/0002_partition_functions', sql: functions },
  { id: 'audit/0003_privileges', sql: privileges },
  { id: 'audit/0004_phi_access_window', sql: phiAccessWindow },
];
