import type { Migration } from '../../platform/db/migrations.js';

/** Tables of the registry module. Released migrations never change; add new ones instead. */
export const registryMigrations: Migration[] = [
  {
    id: 'registry/0001_init',
    sql: `
-- One row per immunization information system this installation reports to.
CREATE TABLE registry_endpoints (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  transport text NOT NULL CHECK (transport IN ('cdc-soap', 'fhir')),
  url text NOT NULL,
  sender_application text NOT NULL,
  sender_facility text NOT NULL,
  receiver_application text NOT NULL,
  receiver_facility text NOT NULL,
  processing_id text NOT NULL CHECK (processing_id IN ('P', 'T', 'D')),
  -- Credentials are sealed JSON (AES-256-GCM, keyring data-encryption key credentials_kid).
  credentials_kind text NOT NULL CHECK (credentials_kind IN ('soap', 'oauth2', 'hmac', 'none')),
  credentials_kid text,
  credentials_sealed text,
  timeout_ms integer NOT NULL,
  rate_limit_per_second integer NOT NULL,
  max_concurrent integer NOT NULL,
  max_attempts integer NOT NULL,
  enabled boolean NOT NULL,
  revision integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The durable work queue and the truth about each dose's registry status.
CREATE TABLE registry_submissions (
  id uuid PRIMARY KEY,
  -- Creation order: submissions of one dose go out in this order.
  seq bigint GENERATED ALWAYS AS IDENTITY,
  endpoint_id uuid NOT NULL REFERENCES registry_endpoints (id) ON DELETE RESTRICT,
  immunization_id text NOT NULL,
  immunization_version integer NOT NULL,
  patient_id text,
  operation text NOT NULL CHECK (operation IN ('submit', 'delete')),
  control_id text NOT NULL UNIQUE,
  status text NOT NULL CHECK (status IN
    ('pending', 'sent', 'accepted', 'accepted_with_warnings', 'rejected', 'failed', 'superseded')),
  -- import: a dose pulled from this registry, recorded as already there so it is not sent back.
  trigger text NOT NULL CHECK (trigger IN ('event', 'manual', 'resubmit', 'import')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_until timestamptz,
  ack_code text,
  registry_errors jsonb NOT NULL DEFAULT '[]',
  last_error text,
  -- Rejected and failed submissions are work items until someone resolves or resubmits them.
  work_item text CHECK (work_item IN ('open', 'resolved')),
  resolved_by text,
  resolved_at timestamptz,
  requested_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  completed_at timestamptz
);
-- An event is turned into at most one submission per registry, however often it is delivered.
CREATE UNIQUE INDEX registry_submissions_event_once
  ON registry_submissions (endpoint_id, immunization_id, immunization_version, operation)
  WHERE trigger IN ('event', 'import');
CREATE INDEX registry_submissions_due
  ON registry_submissions (endpoint_id, next_attempt_at) WHERE status IN ('pending', 'sent');
CREATE INDEX registry_submissions_immunization ON registry_submissions (immunization_id, seq);
CREATE INDEX registry_submissions_open_per_dose
  ON registry_submissions (endpoint_id, immunization_id, seq) WHERE status IN ('pending', 'sent');
CREATE INDEX registry_submissions_work ON registry_submissions (status, created_at) WHERE work_item = 'open';

-- Every call made for a submission: when, how long, what came back (never message bodies).
CREATE TABLE registry_attempts (
  submission_id uuid NOT NULL REFERENCES registry_submissions (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  latency_ms integer NOT NULL,
  outcome text NOT NULL,
  detail text,
  PRIMARY KEY (submission_id, attempt)
);

-- Each pull of a patient's history from a registry, and what reconciliation did with it.
CREATE TABLE registry_queries (
  id uuid PRIMARY KEY,
  endpoint_id uuid NOT NULL REFERENCES registry_endpoints (id) ON DELETE RESTRICT,
  patient_id text NOT NULL,
  control_id text NOT NULL,
  status text NOT NULL,
  doses_found integer NOT NULL DEFAULT 0,
  doses_matched integer NOT NULL DEFAULT 0,
  doses_imported integer NOT NULL DEFAULT 0,
  requested_by text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_queries_patient ON registry_queries (patient_id, created_at);
`,
  },
  {
    // Submissions are kept for good, as each dose's registry record, so counting them per
    // registry and status at every /metrics scrape read the whole history (a sequential scan
    // growing without end). The counts are now kept as the rows change: statement triggers
    // append each statement's net change per registry and status to an insert-only table
    // (concurrent writers never wait on a shared counter row), and the registry.tally-fold job
    // moves those changes into one row per registry and status. A reader adds both.
    id: 'registry/0002_submission_tallies',
    sql: `
CREATE TABLE registry_submission_tallies (
  endpoint_id uuid NOT NULL,
  status text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (endpoint_id, status)
);
CREATE TABLE registry_submission_tally_changes (
  endpoint_id uuid NOT NULL,
  status text NOT NULL,
  delta bigint NOT NULL
);

-- One function for the four events; each branch reads the transition tables its event has.
CREATE FUNCTION registry_submissions_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO registry_submission_tally_changes (endpoint_id, status, delta)
    SELECT endpoint_id, status, count(*) FROM added GROUP BY endpoint_id, status;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO registry_submission_tally_changes (endpoint_id, status, delta)
    SELECT endpoint_id, status, sum(delta) FROM (
        SELECT endpoint_id, status, 1 AS delta FROM added
        UNION ALL SELECT endpoint_id, status, -1 FROM removed) c
     GROUP BY endpoint_id, status HAVING sum(delta) <> 0;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO registry_submission_tally_changes (endpoint_id, status, delta)
    SELECT endpoint_id, status, -count(*) FROM removed GROUP BY endpoint_id, status;
  ELSE
    DELETE FROM registry_submission_tally_changes;
    DELETE FROM registry_submission_tallies;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER registry_submissions_tally_insert AFTER INSERT ON registry_submissions
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION registry_submissions_tally();
CREATE TRIGGER registry_submissions_tally_update AFTER UPDATE ON registry_submissions
  REFERENCING OLD TABLE AS removed NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION registry_submissions_tally();
CREATE TRIGGER registry_submissions_tally_delete AFTER DELETE ON registry_submissions
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION registry_submissions_tally();
CREATE TRIGGER registry_submissions_tally_truncate AFTER TRUNCATE ON registry_submissions
  FOR EACH STATEMENT EXECUTE FUNCTION registry_submissions_tally();

-- Creating the triggers locked out writers, so this count and the triggers see the same rows.
INSERT INTO registry_submission_tallies (endpoint_id, status, n)
SELECT endpoint_id, status, count(*) FROM registry_submissions GROUP BY endpoint_id, status;
`,
  },
  {
    // Only a dose's oldest unfinished submission may be sent. A claim used to find those heads
    // by sorting every unfinished submission of the registry (140 ms a claim with 58,000
    // queued after an outage). It now walks the due index and looks a row's dose up only when
    // the row was queued behind another submission of the same dose (waits, set by enqueue),
    // which is rare. Rows already queued are marked as waiting: always safe, they are looked up.
    id: 'registry/0003_queued_behind',
    sql: `
ALTER TABLE registry_submissions ADD COLUMN waits boolean NOT NULL DEFAULT false;
UPDATE registry_submissions SET waits = true WHERE status IN ('pending', 'sent');
`,
  },
];
