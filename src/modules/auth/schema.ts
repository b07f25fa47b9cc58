import type { Migration } from '../../platform/db/migrations.js';

/** Tables of the identity module. Released migrations never change; add new ones instead. */
export const authMigrations: Migration[] = [
  {
    id: 'auth/0001_accounts',
    sql: `
CREATE TABLE auth_users (
  id uuid PRIMARY KEY,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'disabled')),
  organization_id text,
  patient_id text,
  must_change_password boolean NOT NULL DEFAULT false,
  failed_logins integer NOT NULL DEFAULT 0,
  lockouts integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  last_login_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auth_users_email_key ON auth_users (lower(email));

CREATE TABLE auth_credentials (
  user_id uuid PRIMARY KEY REFERENCES auth_users (id) ON DELETE CASCADE,
  password_hash text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_roles (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,62}$'),
  description text NOT NULL DEFAULT '',
  patient_scope text NOT NULL DEFAULT 'none' CHECK (patient_scope IN ('all', 'organization', 'own', 'none')),
  builtin boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_role_permissions (
  role text NOT NULL REFERENCES auth_roles (name) ON DELETE CASCADE,
  permission text NOT NULL CHECK (permission ~ '^[a-z][a-z_]*:[a-z][a-z_]*$'),
  PRIMARY KEY (role, permission)
);

CREATE TABLE auth_user_roles (
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  role text NOT NULL REFERENCES auth_roles (name) ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role)
);

CREATE TABLE auth_user_organizations (
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  organization_id text NOT NULL,
  PRIMARY KEY (user_id, organization_id)
);

CREATE TABLE auth_care_team_members (
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  patient_id text NOT NULL,
  PRIMARY KEY (user_id, patient_id)
);

CREATE TABLE auth_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  kind text NOT NULL DEFAULT 'password' CHECK (kind IN ('password', 'cli')),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  ip text,
  user_agent text,
  mfa_verified_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- One family per session: a token used twice revokes the whole session.
CREATE TABLE auth_refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);

CREATE TABLE auth_mfa_totp (
  user_id uuid PRIMARY KEY REFERENCES auth_users (id) ON DELETE CASCADE,
  key_id text NOT NULL,
  secret_enc text NOT NULL,
  confirmed_at timestamptz,
  last_counter bigint,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_mfa_recovery_codes (
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE auth_password_resets (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

CREATE TABLE auth_login_attempts (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  user_id uuid REFERENCES auth_users (id) ON DELETE SET NULL,
  ip text,
  success boolean NOT NULL,
  reason text NOT NULL
);
CREATE INDEX auth_login_attempts_user ON auth_login_attempts (user_id, at);

-- Per role or user: every rule of a kind that applies is an allow-list entry; one must match.
CREATE TABLE auth_access_rules (
  id uuid PRIMARY KEY,
  subject_type text NOT NULL CHECK (subject_type IN ('role', 'user')),
  subject text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('hours', 'network')),
  time_zone text,
  days smallint[],
  start_minute integer CHECK (start_minute BETWEEN 0 AND 1440),
  end_minute integer CHECK (end_minute BETWEEN 0 AND 1440),
  cidrs text[],
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'hours' OR (time_zone IS NOT NULL AND days IS NOT NULL AND start_minute IS NOT NULL AND end_minute IS NOT NULL)),
  CHECK (kind <> 'network' OR cidrs IS NOT NULL)
);

CREATE TABLE auth_break_glass_grants (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  session_id uuid REFERENCES auth_sessions (id) ON DELETE SET NULL,
  patient_id text NOT NULL,
  reason text NOT NULL CHECK (length(reason) >= 10),
  opened_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX auth_break_glass_user ON auth_break_glass_grants (user_id, expires_at);

CREATE TABLE auth_oauth_clients (
  id text PRIMARY KEY,
  name text NOT NULL,
  secret_hash text NOT NULL,
  scopes text[] NOT NULL,
  roles text[] NOT NULL,
  patient_scope text NOT NULL DEFAULT 'organization' CHECK (patient_scope IN ('all', 'organization', 'none')),
  organization_id text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Mail waiting for a relay; the body is cleared once sent.
CREATE TABLE auth_mail_outbox (
  id uuid PRIMARY KEY,
  recipient text NOT NULL,
  subject text NOT NULL,
  body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
`,
  },
  {
    id: 'auth/0002_builtin_roles',
    sql: `
INSERT INTO auth_roles (name, description, patient_scope, builtin) VALUES
  ('system_admin', 'Administers accounts, roles, clients and keys; no clinical data', 'none', true),
  ('security_officer', 'Reviews the audit trail, unlocks accounts, revokes sessions, sets access rules', 'none', true),
  ('compliance_officer', 'Reads the audit trail and accounting of disclosures', 'none', true),
  ('physician', 'Full clinical access to the patients of their organization and care teams', 'organization', true),
  ('nurse', 'Records immunizations for the patients of their organization and care teams', 'organization', true),
  ('pharmacist', 'Reads records and records administered doses for their organization', 'organization', true),
  ('registrar', 'Demographics only: registers patients, no clinical data', 'organization', true),
  ('analyst', 'Aggregate, de-identified data only; no patient-level PHI', 'none', true),
  ('integration', 'Machine client (registry callbacks, EHR feeds)', 'organization', true),
  ('patient', 'A patient: their own record only', 'own', true);

INSERT INTO auth_role_permissions (role, permission) VALUES
  ('system_admin', 'user:read'), ('system_admin', 'user:manage'), ('system_admin', 'user:unlock'),
  ('system_admin', 'role:read'), ('system_admin', 'role:manage'), ('system_admin', 'session:manage'),
  ('system_admin', 'client:manage'), ('system_admin', 'key:manage'), ('system_admin', 'policy:manage'),
  ('system_admin', 'directory:read'), ('system_admin', 'directory:write'),
  ('system_admin', 'terminology:read'), ('system_admin', 'conformance:read'),
  ('security_officer', 'audit:read'), ('security_officer', 'user:read'), ('security_officer', 'user:unlock'),
  ('security_officer', 'role:read'), ('security_officer', 'session:manage'), ('security_officer', 'policy:manage'),
  ('compliance_officer', 'audit:read'), ('compliance_officer', 'user:read'), ('compliance_officer', 'role:read'),
  ('compliance_officer', 'report:read'),
  ('physician', 'patient:read'), ('physician', 'patient:write'),
  ('physician', 'immunization:read'), ('physician', 'immunization:write'),
  ('physician', 'clinical:read'), ('physician', 'clinical:write'),
  ('physician', 'document:read'), ('physician', 'document:write'),
  ('physician', 'consent:read'), ('physician', 'consent:write'),
  ('physician', 'task:read'), ('physician', 'task:write'), ('physician', 'provenance:read'),
  ('physician', 'directory:read'), ('physician', 'terminology:read'), ('physician', 'conformance:read'),
  ('physician', 'registry:submit'), ('physician', 'breakglass:open'),
  ('nurse', 'patient:read'), ('nurse', 'patient:write'),
  ('nurse', 'immunization:read'), ('nurse', 'immunization:write'),
  ('nurse', 'clinical:read'), ('nurse', 'document:read'), ('nurse', 'document:write'),
  ('nurse', 'consent:read'), ('nurse', 'task:read'), ('nurse', 'task:write'),
  ('nurse', 'directory:read'), ('nurse', 'terminology:read'), ('nurse', 'conformance:read'),
  ('nurse', 'registry:submit'), ('nurse', 'breakglass:open'),
  ('pharmacist', 'patient:read'), ('pharmacist', 'immunization:read'), ('pharmacist', 'immunization:write'),
  ('pharmacist', 'clinical:read'), ('pharmacist', 'directory:read'), ('pharmacist', 'terminology:read'),
  ('pharmacist', 'conformance:read'), ('pharmacist', 'registry:submit'), ('pharmacist', 'breakglass:open'),
  ('registrar', 'patient:read'), ('registrar', 'patient:write'), ('registrar', 'directory:read'),
  ('analyst', 'analytics:read'), ('analyst', 'terminology:read'), ('analyst', 'conformance:read'),
  ('integration', 'patient:read'), ('integration', 'patient:write'),
  ('integration', 'immunization:read'), ('integration', 'immunization:write'),
  ('integration', 'directory:read'), ('integration', 'terminology:read'), ('integration', 'conformance:read'),
  ('integration', 'registry:submit'),
  ('patient', 'patient:read'), ('patient', 'immunization:read'), ('patient', 'document:read'),
  ('patient', 'consent:read');
`,
  },
  {
    // Operating the event bus (dead letters, replay) is administration of the platform.
    id: 'auth/0003_events_permission',
    sql: `INSERT INTO auth_role_permissions (role, permission) VALUES ('system_admin', 'events:manage');`,
  },
  {
    // Registry integration: administrators configure endpoints; clinical roles and machine
    // clients see the registry status of the doses they can see.
    id: 'auth/0004_registry_permissions',
    sql: `INSERT INTO auth_role_permissions (role, permission) VALUES
  ('system_admin', 'registry:manage'), ('system_admin', 'registry:read'),
  ('physician', 'registry:read'), ('nurse', 'registry:read'), ('pharmacist', 'registry:read'),
  ('integration', 'registry:read');`,
  },
  {
    // Bulk $export discloses many records at once: only administrators and machine clients by
    // default (what they export is still limited by their scope and read permissions).
    id: 'auth/0005_export_permission',
    sql: `INSERT INTO auth_role_permissions (role, permission) VALUES
  ('system_admin', 'fhir:export'), ('integration', 'fhir:export');`,
  },
];
