-- Lictor schema, SQLite. Times are microseconds since the Unix epoch
-- (BIGINT) so both backends store them identically and the audit hash is
-- computed over the same values.

CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    generation BIGINT NOT NULL,
    secret     TEXT NOT NULL,
    public_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (purpose, generation)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    environment TEXT NOT NULL,
    role        TEXT NOT NULL,
    agent_id    TEXT,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);

CREATE TABLE agents (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    id                   TEXT NOT NULL,
    name                 TEXT NOT NULL,
    owner                TEXT NOT NULL,
    description          TEXT,
    status               TEXT NOT NULL,
    max_decisions_24h    BIGINT,
    max_exposure_usd_24h REAL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE intents (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    agent_id          TEXT NOT NULL,
    api_key_id        TEXT NOT NULL,
    bound_agent_id    TEXT,
    environment       TEXT NOT NULL,
    action_type       TEXT NOT NULL,
    verb              TEXT NOT NULL,
    status            TEXT NOT NULL,
    verdict           TEXT,
    would_be_verdict  TEXT,
    request           TEXT NOT NULL,
    decision          TEXT,
    policy_input      TEXT,
    created_at        BIGINT NOT NULL,
    decided_at        BIGINT,
    claimed_until     BIGINT,
    callback_url      TEXT,
    callback_state    TEXT,
    callback_attempts BIGINT NOT NULL DEFAULT 0,
    callback_next_at  BIGINT
);
CREATE INDEX intents_by_tenant ON intents (tenant_id, created_at, id);
CREATE INDEX intents_by_agent ON intents (tenant_id, agent_id, created_at);
CREATE INDEX intents_pending ON intents (created_at) WHERE status = 'pending';
CREATE INDEX intents_callbacks_due ON intents (callback_next_at) WHERE callback_state = 'pending';

CREATE TABLE webhook_deliveries (
    intent_id    TEXT NOT NULL REFERENCES intents (id),
    attempt      BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (intent_id, attempt)
);

CREATE TABLE idempotency_keys (
    tenant_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    intent_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE budget_usage (
    tenant_id    TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    minute       BIGINT NOT NULL,
    decisions    BIGINT NOT NULL,
    exposure_usd REAL NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, minute)
);

CREATE TABLE approvals (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    intent_id  TEXT NOT NULL REFERENCES intents (id),
    agent_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX approvals_pending ON approvals (tenant_id) WHERE status = 'pending';

CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE audit_entries (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    seq            BIGINT NOT NULL,
    entry_id       TEXT NOT NULL UNIQUE,
    version        BIGINT NOT NULL,
    ts             BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    intent_id      TEXT,
    agent_id       TEXT,
    environment    TEXT,
    enforced       BIGINT,
    verdict        TEXT,
    stage          TEXT,
    reasons        TEXT NOT NULL,
    bundle_hash    TEXT,
    input_digest   TEXT,
    payload_digest TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_by_intent ON audit_entries (tenant_id, intent_id, seq);

CREATE TABLE audit_payloads (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    digest    TEXT NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
