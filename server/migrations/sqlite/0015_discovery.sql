-- Discovery: AI traffic that proxies, CASBs and DNS resolvers report.

-- One identity using one AI service (a catalogue id, or `unlisted:<name>`
-- for an app a vendor files as generative AI that the catalogue does not
-- list). The id is derived from (tenant, identity, service), so every
-- replica names the same agent the same. Totals are over every source.
-- `status`: unreviewed | sanctioned | unsanctioned | ignored; `agent_id`
-- links a registered agent (the discovered agent is then governed, since
-- `governed_at`).
CREATE TABLE discovered_agents (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    identity_kind TEXT NOT NULL,
    identity TEXT NOT NULL,
    service TEXT NOT NULL,
    service_name TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    department TEXT,
    status TEXT NOT NULL DEFAULT 'unreviewed',
    status_reason TEXT,
    agent_id TEXT,
    governed_at BIGINT,
    owner TEXT,
    attested_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, identity_kind, identity, service)
);
CREATE INDEX discovered_agents_by_last_seen ON discovered_agents (tenant_id, last_seen, id);

-- What each source saw of a discovered agent.
CREATE TABLE discovered_agent_sources (
    discovered_id TEXT NOT NULL REFERENCES discovered_agents (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (discovered_id, source)
);

-- The records already ingested, by digest (the vendor's record id, or the
-- record's own bytes): a record sent again adds nothing. Forgotten after 35 days.
CREATE TABLE discovery_records (
    tenant_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);
CREATE INDEX discovery_records_by_age ON discovery_records (seen_at);

-- What IPAM says of an address: the host behind it. DNS records that only
-- name an address are counted for that host.
CREATE TABLE discovery_hosts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    ip TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, ip)
);

-- Owners' statements that a discovered agent's access is still needed.
CREATE TABLE discovery_attestations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    discovered_id TEXT NOT NULL REFERENCES discovered_agents (id) ON DELETE CASCADE,
    attester TEXT NOT NULL,
    person TEXT,
    statement TEXT NOT NULL,
    attested_at BIGINT NOT NULL
);
CREATE INDEX discovery_attestations_by_time ON discovery_attestations (tenant_id, attested_at, id);

-- A tenant's own additions to the shipped AI-service catalogue.
CREATE TABLE discovery_services (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    service TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- How far each pull source has read (an opaque, vendor-specific cursor),
-- so a restart resumes. Which replica pulls is `sink_leases`' business.
CREATE TABLE discovery_cursors (
    source TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- How long an owner's attestation holds (days).
ALTER TABLE tenants ADD COLUMN attestation_days BIGINT NOT NULL DEFAULT 90;

-- A capability token's caveats as minted (JSON), for the access register;
-- tokens minted before this column have none recorded.
ALTER TABLE tokens ADD COLUMN caveats TEXT;
