-- Each chain head carries the gateway's seal: an HMAC over (tenant, seq,
-- hash) keyed from the checkpoint key, which lives outside the store
-- (server/src/audit/seal.rs). Heads of earlier versions have none; the
-- start that applies this migration seals those whose log verifies.
ALTER TABLE audit_heads ADD COLUMN seal TEXT;
