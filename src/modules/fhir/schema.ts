import type { Migration } from '../../platform/db/migrations.js';

/**
 * FHIR store tables. Resource content is only ever stored encrypted (see crypto.ts); search
 * index rows hold either non-identifying values in plain (codes, dates, references, amounts)
 * or keyed HMAC blind indexes of identifying values (names, identifiers, telecom, address).
 */
export const fhirMigrations: Migration[] = [
  {
    id: 'fhir/0001_resources',
    sql: `
CREATE TABLE fhir_resource (
  resource_type text NOT NULL,
  id text NOT NULL,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  kid text NOT NULL,
  wrapped_key bytea NOT NULL,
  iv bytea NOT NULL,
  content bytea NOT NULL,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resource_type_updated ON fhir_resource (resource_type, last_updated, id);
CREATE INDEX fhir_resource_updated ON fhir_resource (last_updated);
CREATE INDEX fhir_resource_kid ON fhir_resource (kid);

CREATE TABLE fhir_resource_history (
  resource_type text NOT NULL,
  id text NOT NULL,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  method text NOT NULL,
  kid text NOT NULL,
  wrapped_key bytea NOT NULL,
  iv bytea NOT NULL,
  content bytea NOT NULL,
  PRIMARY KEY (resource_type, id, version)
);
CREATE INDEX fhir_history_type_updated ON fhir_resource_history (resource_type, last_updated);
CREATE INDEX fhir_history_updated ON fhir_resource_history (last_updated);
CREATE INDEX fhir_history_kid ON fhir_resource_history (kid);

CREATE TABLE fhir_compartment (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  patient_id text NOT NULL,
  PRIMARY KEY (resource_type, resource_id, patient_id)
);
CREATE INDEX fhir_compartment_patient ON fhir_compartment (patient_id, resource_type);

CREATE TABLE fhir_patient_organization (
  patient_id text PRIMARY KEY,
  organization_id text NOT NULL
);
CREATE INDEX fhir_patient_organization_org ON fhir_patient_organization (organization_id);

CREATE TABLE fhir_idx_token (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  system text,
  value text,
  blinded boolean NOT NULL DEFAULT false,
  text text
);
CREATE INDEX fhir_idx_token_value ON fhir_idx_token (resource_type, code, value, system);
CREATE INDEX fhir_idx_token_res ON fhir_idx_token (resource_type, resource_id);

CREATE TABLE fhir_idx_string (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  value text,
  exact text,
  blinded boolean NOT NULL DEFAULT false
);
CREATE INDEX fhir_idx_string_value ON fhir_idx_string (resource_type, code, value text_pattern_ops);
CREATE INDEX fhir_idx_string_exact ON fhir_idx_string (resource_type, code, exact);
CREATE INDEX fhir_idx_string_res ON fhir_idx_string (resource_type, resource_id);

CREATE TABLE fhir_idx_string_prefix (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  prefix text NOT NULL
);
CREATE INDEX fhir_idx_string_prefix_value ON fhir_idx_string_prefix (resource_type, code, prefix);
CREATE INDEX fhir_idx_string_prefix_res ON fhir_idx_string_prefix (resource_type, resource_id);

CREATE TABLE fhir_idx_date (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  low timestamptz,
  high timestamptz,
  day_blind text
);
CREATE INDEX fhir_idx_date_low ON fhir_idx_date (resource_type, code, low);
CREATE INDEX fhir_idx_date_high ON fhir_idx_date (resource_type, code, high);
CREATE INDEX fhir_idx_date_blind ON fhir_idx_date (resource_type, code, day_blind);
CREATE INDEX fhir_idx_date_res ON fhir_idx_date (resource_type, resource_id);

CREATE TABLE fhir_idx_reference (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  target_type text,
  target_id text,
  reference text NOT NULL
);
CREATE INDEX fhir_idx_reference_target ON fhir_idx_reference (resource_type, code, target_id, target_type);
CREATE INDEX fhir_idx_reference_ref ON fhir_idx_reference (resource_type, code, reference);
CREATE INDEX fhir_idx_reference_rev ON fhir_idx_reference (target_type, target_id);
CREATE INDEX fhir_idx_reference_res ON fhir_idx_reference (resource_type, resource_id);

CREATE TABLE fhir_idx_quantity (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  value numeric,
  system text,
  unit text
);
CREATE INDEX fhir_idx_quantity_value ON fhir_idx_quantity (resource_type, code, value);
CREATE INDEX fhir_idx_quantity_res ON fhir_idx_quantity (resource_type, resource_id);

CREATE TABLE fhir_idx_number (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  value numeric
);
CREATE INDEX fhir_idx_number_value ON fhir_idx_number (resource_type, code, value);
CREATE INDEX fhir_idx_number_res ON fhir_idx_number (resource_type, resource_id);

CREATE TABLE fhir_idx_uri (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  code text NOT NULL,
  value text NOT NULL
);
CREATE INDEX fhir_idx_uri_value ON fhir_idx_uri (resource_type, code, value text_pattern_ops);
CREATE INDEX fhir_idx_uri_res ON fhir_idx_uri (resource_type, resource_id);
`,
  },
  {
    // Bulk $export jobs: the caller's scope at kick-off, progress, and the manifest of the
    // NDJSON files written to object storage under exports/{id}/.
    id: 'fhir/0002_export_jobs',
    sql: `
CREATE TABLE fhir_export_jobs (
  id uuid PRIMARY KEY,
  requested_by text NOT NULL,
  scope jsonb NOT NULL,
  request_url text NOT NULL,
  params jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  progress text,
  manifest jsonb,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  completed_at timestamptz,
  expires_at timestamptz NOT NULL
);
CREATE INDEX fhir_export_jobs_owner ON fhir_export_jobs (requested_by, status);
CREATE INDEX fhir_export_jobs_expiry ON fhir_export_jobs (expires_at);
`,
  },
  {
    // Defence in depth for organization scoping: the rule of search/scope.ts again, as
    // row-level security on the tables holding resource content, fed by the caller's scope
    // (store/row-security.ts). FORCE makes it bind the owning application role too; only a
    // superuser or a BYPASSRLS role (embedded PGlite's session user, an operator's pg_dump)
    // passes it. No scope set means only resources in no patient's compartment are visible.
    id: 'fhir/0003_row_level_security',
    sql: `
-- A function rather than the rule inline: the planner then sees one call instead of four
-- subqueries per table reference, which cost more to plan than a read by id costs to run.
CREATE FUNCTION fhir_row_in_scope(row_type text, row_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN NOT EXISTS (SELECT 1 FROM fhir_compartment rc
      WHERE rc.resource_type = row_type AND rc.resource_id = row_id)
    OR EXISTS (SELECT 1 FROM fhir_compartment rc
      WHERE rc.resource_type = row_type AND rc.resource_id = row_id
        AND (rc.patient_id = ANY (string_to_array(nullif(current_setting('iris.scope_patients', true), ''), ','))
          OR EXISTS (SELECT 1 FROM fhir_patient_organization rpo WHERE rpo.patient_id = rc.patient_id
            AND rpo.organization_id = ANY (
              string_to_array(nullif(current_setting('iris.scope_organizations', true), ''), ',')))));
END
$$;
${['fhir_resource', 'fhir_resource_history']
  .map(
    (table) => `
ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${table}_scope ON ${table} FOR ALL
  USING (current_setting('iris.scope_kind', true) = 'all' OR fhir_row_in_scope(resource_type, id))
  WITH CHECK (true);
`,
  )
  .join('')}`,
  },
  {
    // Composite search parameters (Observation `component-code-value-quantity` and the like):
    // each part is indexed in its own kind's table under `<code>$<n>`, and `grp` numbers the
    // element it came from, so a search matches parts of one component, not of any two.
    // Resources stored earlier gain these rows at their next write.
    id: 'fhir/0004_composite_groups',
    sql: [
      'fhir_idx_token',
      'fhir_idx_string',
      'fhir_idx_date',
      'fhir_idx_reference',
      'fhir_idx_quantity',
      'fhir_idx_number',
      'fhir_idx_uri',
    ]
      .map((table) => `ALTER TABLE ${table} ADD COLUMN grp integer;\n`)
      .join(''),
  },
  {
    // Measured at 100k patients: the value columns mix every parameter's values, so with the
    // default sample a given-name prefix held by 10,000 patients was estimated at 67 rows and
    // `Patient?family=&given=` was driven from it (314 ms); with a finer sample the planner
    // starts from the rarer family prefix (34 ms). The second probe of such a search reads
    // (resource, code, prefix) from the index alone (20 ms).
    id: 'fhir/0005_search_statistics',
    sql: `
ALTER TABLE fhir_idx_string_prefix ALTER COLUMN prefix SET STATISTICS 1000;
ALTER TABLE fhir_idx_string ALTER COLUMN value SET STATISTICS 1000;
ALTER TABLE fhir_idx_token ALTER COLUMN value SET STATISTICS 1000;
ALTER TABLE fhir_idx_reference ALTER COLUMN target_id SET STATISTICS 1000;
CREATE INDEX fhir_idx_string_prefix_res_code ON fhir_idx_string_prefix (resource_type, resource_id, code, prefix);
DROP INDEX fhir_idx_string_prefix_res;
`,
  },
  {
    // The row-level security check ran per row with an organization test PostgreSQL planned as
    // a hashed subplan over every patient of the scope's organizations, rebuilt at each call:
    // 0.15 ms a row at 200 patients, growing with the organization. It now probes the one
    // managing organization of each of the row's patients through its primary key (0.05 ms
    // a row, whatever the size). Same rule, same signature, so the policies are unchanged.
    // The store's tables grow by bursts (imports, transaction Bundles): analyzed after 2% of
    // new rows rather than 10%, a search is not planned for long from statistics of an
    // almost empty table (measured: 6 s a search over 2,000 rows, 1 ms once analyzed). The
    // tables are spelled out, not taken from INDEX_TABLES: a migration's text never changes.
    id: 'fhir/0006_scope_probe',
    sql: `
CREATE OR REPLACE FUNCTION fhir_row_in_scope(row_type text, row_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  scope_patients text[] := string_to_array(nullif(current_setting('iris.scope_patients', true), ''), ',');
  scope_organizations text[] :=
    string_to_array(nullif(current_setting('iris.scope_organizations', true), ''), ',');
  members integer;
  visible boolean;
BEGIN
  SELECT count(*), coalesce(bool_or(rc.patient_id = ANY (scope_patients)
           OR rpo.organization_id = ANY (scope_organizations)), false)
    INTO members, visible
    FROM fhir_compartment rc
    LEFT JOIN fhir_patient_organization rpo ON rpo.patient_id = rc.patient_id
   WHERE rc.resource_type = row_type AND rc.resource_id = row_id;
  RETURN members = 0 OR visible;
END
$$;
${[
  'fhir_resource',
  'fhir_resource_history',
  'fhir_compartment',
  'fhir_patient_organization',
  'fhir_idx_token',
  'fhir_idx_string',
  'fhir_idx_string_prefix',
  'fhir_idx_date',
  'fhir_idx_reference',
  'fhir_idx_quantity',
  'fhir_idx_number',
  'fhir_idx_uri',
]
  .map(
    (table) =>
      `ALTER TABLE ${table} SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);`,
  )
  .join('\n')}
`,
  },
  {
    // Name searches intersect the ids behind each prefix before reading any resource row. With
    // the id in the value index, each side is read from the index alone and the two are
    // hash-joined: at 100,000 patients `family=Smith1&given=Ava` (1,110 and 10,000 index rows,
    // 111 patients) went from 24 ms to 4 ms.
    id: 'fhir/0007_prefix_ids',
    sql: `
CREATE INDEX fhir_idx_string_prefix_value_id ON fhir_idx_string_prefix (resource_type, code, prefix, resource_id);
DROP INDEX fhir_idx_string_prefix_value;
`,
  },
  {
    // A write's organization check raises instead of answering: the write can then travel with
    // the transaction's other deferred statements (audit entry, event), one round trip, and a
    // refusal still stores nothing. SQLSTATE IR403 is mapped to 403 (platform/db/sql-errors.ts).
    id: 'fhir/0008_write_guard',
    sql: `
CREATE FUNCTION fhir_require_write_access(permitted boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT permitted THEN
    RAISE EXCEPTION 'the resource belongs to a patient outside your access' USING ERRCODE = 'IR403';
  END IF;
  RETURN TRUE;
END
$$;
`,
  },
];

/** Index tables, one per search parameter kind, cleared and refilled on every write. */
export const INDEX_TABLES = [
  'fhir_idx_token',
  'fhir_idx_string',
  'fhir_idx_string_prefix',
  'fhir_idx_date',
  'fhir_idx_reference',
  'fhir_idx_quantity',
  'fhir_idx_number',
  'fhir_idx_uri',
] as const;
