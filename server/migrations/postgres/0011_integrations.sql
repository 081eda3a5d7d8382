-- Integrations a tenant administrator configures through the API: audit
-- sinks (`category` = 'sink') and notification channels ('channel').
-- `settings` is the JSON of the kind's settings without its secrets;
-- `sealed` holds the secrets, encrypted and authenticated with a key
-- derived from the gateway's checkpoint key (outside the database), bound
-- to the id, tenant and settings: a row changed or made in the database
-- does not open, and its integration does not run.
CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    settings TEXT NOT NULL,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- What each notification channel has said, per tenant and alert kind:
-- when it last alerted, what it has counted since (said in the next
-- alert), and whether an alert is open (PagerDuty: not yet resolved).
-- `watermark` is how far a channel has looked (approval expiries).
CREATE TABLE notification_state (
    channel TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    alert TEXT NOT NULL,
    sent_at BIGINT,
    last_seen_at BIGINT,
    suppressed BIGINT NOT NULL DEFAULT 0,
    is_open BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT,
    detail TEXT,
    PRIMARY KEY (channel, tenant_id, alert)
);
