-- Policy lifecycle: content-addressed bundles, drafts, each tenant's active
-- bundle with its rollback target, and two-person promotion proposals.

-- Immutable bundles by content hash (the runtime modules and data the hash
-- covers, as canonical JSON). Active and previous bundles resolve here, so
-- a promoted bundle stays decidable whatever happens to its draft.
CREATE TABLE policy_bundles (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    bundle_hash TEXT NOT NULL,
    name        TEXT NOT NULL,
    modules     TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bundle_hash)
);

-- Editable drafts: every module as saved (test modules included), the data
-- document, and the hash of the bundle they make.
CREATE TABLE policy_drafts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    description TEXT,
    modules     TEXT NOT NULL,
    data        TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE INDEX policy_drafts_by_tenant ON policy_drafts (tenant_id, id);

-- The bundle deciding for a tenant (none: the built-in default) and the
-- one a rollback returns to. `generation` grows with every change; replicas
-- compare it to what they have loaded.
CREATE TABLE policy_active (
    tenant_id            TEXT PRIMARY KEY REFERENCES tenants (id),
    generation           BIGINT NOT NULL,
    bundle_hash          TEXT NOT NULL,
    bundle_name          TEXT NOT NULL,
    draft_id             TEXT,
    promoted_by          TEXT NOT NULL,
    promoted_at          BIGINT NOT NULL,
    previous_hash        TEXT,
    previous_name        TEXT,
    previous_draft_id    TEXT,
    previous_promoted_by TEXT,
    previous_promoted_at BIGINT
);

-- Promotions waiting for a second administrator.
CREATE TABLE policy_proposals (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    draft_id    TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    bundle_name TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    status      TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  BIGINT
);
CREATE INDEX policy_proposals_by_tenant ON policy_proposals (tenant_id, id);

-- Whether promotions need a second administrator.
ALTER TABLE tenants ADD COLUMN policy_two_person BIGINT NOT NULL DEFAULT 0;

-- The policy stage's own verdict (before budget and approvals), so a
-- dry-run compares like with like.
ALTER TABLE intents ADD COLUMN policy_verdict TEXT;
CREATE INDEX intents_by_decided ON intents (tenant_id, decided_at);
