-- What each sink's delivery of each tenant's log looks like, for the
-- health endpoint: events acknowledged, failed attempts, the last success
-- and the last error. Written by the sender beside its cursor.
ALTER TABLE sink_cursors ADD COLUMN delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sink_cursors ADD COLUMN failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sink_cursors ADD COLUMN last_success_at BIGINT;
ALTER TABLE sink_cursors ADD COLUMN last_error TEXT;
ALTER TABLE sink_cursors ADD COLUMN last_error_at BIGINT;
