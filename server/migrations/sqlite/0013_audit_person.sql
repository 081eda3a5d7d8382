-- Audit entries name the person who acted, when one signed in through
-- their identity provider did: the person's JSON object, NULL otherwise
-- (every entry written before).
ALTER TABLE audit_entries ADD COLUMN person TEXT;
