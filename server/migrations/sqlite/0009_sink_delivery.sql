-- Delivery of the audit log to sinks (SIEMs, object stores, relays): an
-- outbox read forward from a durable cursor, never a buffer.
--
-- `sink` names a sink: `env:<name>` for one configured by environment
-- (it serves every tenant), an integration id for one a tenant admin
-- configured.

-- How far each sink has delivered each tenant's log: every entry up to
-- `seq` was acknowledged by the destination, and the checkpoints up to
-- tree size `checkpoint_size`. Only moves forward.
CREATE TABLE sink_cursors (
    sink TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    checkpoint_size BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sink, tenant_id)
);

-- Which gateway sends for a sink: one at a time, until `expires_at`
-- (microseconds); the holder renews it, another takes it once expired.
CREATE TABLE sink_leases (
    sink TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Entries a destination refused for good (a 4xx other than 408 and 429):
-- kept for an operator to see and send again (`redriven_at`).
CREATE TABLE sink_dead_letters (
    sink TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    status INTEGER,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    redriven_at BIGINT,
    PRIMARY KEY (sink, tenant_id, seq)
);
