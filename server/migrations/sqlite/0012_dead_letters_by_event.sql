-- A dead letter is one event: an entry or a checkpoint, which may share a
-- number (entry 12, checkpoint of size 12). Keyed by the event's id so
-- that both can be set aside.
CREATE TABLE sink_dead_letters_by_event (
    sink TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    status INTEGER,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    redriven_at BIGINT,
    PRIMARY KEY (sink, tenant_id, entry_id)
);
INSERT INTO sink_dead_letters_by_event (sink, tenant_id, seq, entry_id, status, error, created_at, redriven_at)
    SELECT sink, tenant_id, seq, entry_id, status, error, created_at, redriven_at FROM sink_dead_letters;
DROP TABLE sink_dead_letters;
ALTER TABLE sink_dead_letters_by_event RENAME TO sink_dead_letters;
CREATE INDEX sink_dead_letters_seq ON sink_dead_letters (sink, tenant_id, seq);
