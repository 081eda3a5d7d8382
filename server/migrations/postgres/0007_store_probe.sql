-- One row the gateway overwrites to learn whether the store accepts
-- writes (readiness while the decision writer is failing).
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    written_at TEXT NOT NULL
);
