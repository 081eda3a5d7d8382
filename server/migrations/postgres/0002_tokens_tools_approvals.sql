-- Capability tokens, upstream MCP servers, the approvals queue and MCP
-- sessions; audit entries gain the fields tool calls and administrative
-- entries need.

ALTER TABLE audit_entries ADD COLUMN principal TEXT;
ALTER TABLE audit_entries ADD COLUMN jti TEXT;
ALTER TABLE audit_entries ADD COLUMN tool TEXT;
ALTER TABLE audit_entries ADD COLUMN approval_id TEXT;
ALTER TABLE audit_entries ADD COLUMN outcome TEXT;

-- Root tokens the gateway minted (attenuated descendants exist only in the
-- holders' hands).
CREATE TABLE tokens (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    jti        TEXT COLLATE "C" NOT NULL,
    subject    TEXT NOT NULL,
    kid        TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    minted_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);

CREATE TABLE token_revocations (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    jti        TEXT COLLATE "C" NOT NULL,
    reason     TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    revoked_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX token_revocations_by_time ON token_revocations (tenant_id, revoked_at, jti);

-- What allowed calls consumed, per scope jti (the jti in effect where a
-- counting caveat was added).
CREATE TABLE token_usage (
    tenant_id TEXT NOT NULL,
    scope_jti TEXT NOT NULL,
    calls     BIGINT NOT NULL,
    cents     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_jti)
);

CREATE TABLE token_rate (
    tenant_id TEXT NOT NULL,
    scope_jti TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    calls     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, scope_jti, minute)
);

CREATE TABLE upstreams (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    name             TEXT COLLATE "C" NOT NULL,
    url              TEXT NOT NULL,
    credential_header TEXT,
    credential_value TEXT,
    tool_overrides   TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'intent';
ALTER TABLE approvals ADD COLUMN tool TEXT;
ALTER TABLE approvals ADD COLUMN jti TEXT;
ALTER TABLE approvals ADD COLUMN action_type TEXT NOT NULL DEFAULT 'access';
ALTER TABLE approvals ADD COLUMN verb TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN summary TEXT;
ALTER TABLE approvals ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE approvals ADD COLUMN risk_level TEXT NOT NULL DEFAULT 'low';
ALTER TABLE approvals ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN decided_by TEXT;
ALTER TABLE approvals ADD COLUMN note TEXT;
ALTER TABLE approvals ADD COLUMN used_at BIGINT;
ALTER TABLE approvals ADD COLUMN modifications TEXT;
CREATE INDEX approvals_by_digest ON approvals (tenant_id, digest, status);
CREATE INDEX approvals_by_time ON approvals (tenant_id, created_at, id);

-- MCP sessions of 2025-revision clients (`initialize` → Mcp-Session-Id).
CREATE TABLE mcp_sessions (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    principal        TEXT NOT NULL,
    protocol_version TEXT NOT NULL,
    client_name      TEXT,
    created_at       BIGINT NOT NULL,
    closed_at        BIGINT
);

-- Intents record the credential that declared them: an API key
-- (`key_…`) or a capability token (`token:<jti>`).
ALTER TABLE intents RENAME COLUMN api_key_id TO credential;
