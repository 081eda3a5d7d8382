-- The audit log as a Merkle tree (RFC 6962) per tenant, signed checkpoints
-- of it, erasable payloads, and each tenant's choice of how decisions
-- behave when the store is down.

-- Every perfect, aligned subtree of a tenant's tree: node (level, idx)
-- covers leaves [idx * 2^level, (idx + 1) * 2^level). Leaves are the entry
-- hashes, leaf i being the entry with seq i + 1. Hashes are lowercase hex.
CREATE TABLE audit_tree (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    level     INTEGER NOT NULL,
    idx       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, level, idx)
);

-- How far the tree covers the chain, and the hashes of the perfect
-- subtrees of that size (JSON ["hex", …], largest first) from which the
-- next leaves are hashed in.
ALTER TABLE audit_heads ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN frontier TEXT NOT NULL DEFAULT '[]';

-- Signed tree heads: the C2SP signed note of each checkpoint.
CREATE TABLE audit_checkpoints (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    note       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, tree_size)
);

-- An erased payload keeps its digest (the chain references it) but not
-- its body.
ALTER TABLE audit_payloads ADD COLUMN erased_at BIGINT;
ALTER TABLE audit_payloads ADD COLUMN erased_by TEXT;

-- `closed` (default): decisions fail with 503 when the store is down.
-- `open_in_shadow`: shadow-environment decisions are still answered,
-- marked unaudited.
ALTER TABLE tenants ADD COLUMN store_failure TEXT NOT NULL DEFAULT 'closed';

-- Filters of GET /v1/admin/audit.
CREATE INDEX audit_entries_by_agent ON audit_entries (tenant_id, agent_id, seq);
CREATE INDEX audit_entries_by_kind ON audit_entries (tenant_id, kind, seq);
