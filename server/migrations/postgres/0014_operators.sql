-- Operators: people signed in through an OpenID Connect provider
-- (docs/operators.md).

-- The person a key acts for: its creator's, inherited from key to key
-- (`person`, JSON), and the identity two-person rules compare
-- (`acts_for`: `person:<issuer>#<subject>`, or the first key created by
-- the superadmin key, `key:<id>`).
ALTER TABLE api_keys ADD COLUMN acts_for TEXT;
ALTER TABLE api_keys ADD COLUMN person TEXT;

-- A tenant's operator access: the provider its people sign in with, the
-- groups that hold roles, and what destructive operations need
-- (`settings`, JSON). `scim_token_hash` is the SHA-256 of its SCIM bearer
-- token, when one was issued.
CREATE TABLE operator_access (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    provider TEXT,
    settings TEXT NOT NULL,
    scim_token_hash TEXT UNIQUE,
    scim_token_created_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX operator_access_by_provider ON operator_access (provider);

-- SCIM users of a tenant. `user_name_key` is `user_name` lowercased
-- (SCIM's `userName` is unique regardless of case); `resource` is the
-- stored SCIM resource (JSON).
CREATE TABLE scim_users (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id TEXT,
    active BIGINT NOT NULL,
    resource TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_name_key)
);

-- SCIM groups of a tenant; `display_name_key` is `display_name`
-- lowercased (a group's name is unique regardless of case: role mappings
-- name groups).
CREATE TABLE scim_groups (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, display_name_key)
);

CREATE TABLE scim_members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id)
);
CREATE INDEX scim_members_by_user ON scim_members (tenant_id, user_id);

-- Console sessions. The cookie holds `<id>.<secret>`; `mac` is an HMAC,
-- under a key derived from the checkpoint key (outside the database), of
-- the id, the secret and what the session is (person, expiry): a row made
-- or changed in the database authenticates nobody.
CREATE TABLE operator_sessions (
    id TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    username_key TEXT,
    person TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    auth_time BIGINT,
    acr TEXT,
    amr TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX operator_sessions_by_person ON operator_sessions (issuer, subject);
CREATE INDEX operator_sessions_by_username ON operator_sessions (provider, username_key);

-- Sign-ins under way: the authorization request's state (hashed), nonce
-- and PKCE verifier, and the hash of the browser binding cookie. Used
-- once, within ten minutes.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    return_to TEXT NOT NULL,
    max_age BIGINT,
    acr_values TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A tenant's cut-offs: the credentials of a person (by issuer and
-- subject, or by the user name SCIM knows them by at a provider) issued
-- at or before `not_before` (Unix seconds) hold no role in the tenant
-- (sessions ended by an administrator, SCIM deactivation or deletion).
CREATE TABLE operator_cutoffs (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, issuer, subject)
);
CREATE TABLE operator_name_cutoffs (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    provider TEXT NOT NULL,
    username_key TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, provider, username_key)
);

-- Who proposed, as the two-person rule compares people
-- (`Principal::actor`).
ALTER TABLE policy_proposals ADD COLUMN proposer TEXT;
