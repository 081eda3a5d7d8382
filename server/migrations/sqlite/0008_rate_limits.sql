-- A tenant's rate limits (NULL: the documented default). On SQLite the
-- buckets themselves live in the gateway's memory: one process owns the
-- file.
ALTER TABLE tenants ADD COLUMN rate_key_per_minute INTEGER;
ALTER TABLE tenants ADD COLUMN rate_key_burst INTEGER;
ALTER TABLE tenants ADD COLUMN rate_tenant_per_minute INTEGER;
ALTER TABLE tenants ADD COLUMN rate_tenant_burst INTEGER;
