-- A dead letter is one event: an entry or a checkpoint, which may share a
-- number (entry 12, checkpoint of size 12). Keyed by the event's id so
-- that both can be set aside.
ALTER TABLE sink_dead_letters DROP CONSTRAINT sink_dead_letters_pkey;
ALTER TABLE sink_dead_letters ADD PRIMARY KEY (sink, tenant_id, entry_id);
CREATE INDEX sink_dead_letters_seq ON sink_dead_letters (sink, tenant_id, seq);
