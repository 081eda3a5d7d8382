-- Signing secrets leave the store: they live in the key file or
-- LICTOR_KEYS (server/src/signing.rs). The store keeps each key's id,
-- generation and, for checkpoint keys, public half. On start the gateway
-- moves secrets still in `signing_keys` (stores of earlier versions) into
-- the key file, then empties that table.
CREATE TABLE key_ids (
    kid        TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    generation BIGINT NOT NULL,
    public_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (purpose, generation)
);

INSERT INTO key_ids (kid, purpose, generation, public_key, created_at)
    SELECT kid, purpose, generation, public_key, created_at FROM signing_keys;
