-- The security event trail: audit entries keep the names and emails of
-- their actor and target as they were (so a removed user stays
-- identifiable), why a sign-in failed or an attempt was denied, and the
-- client's address.
ALTER TABLE audit_log ADD COLUMN actor_name TEXT;
--bun:split
ALTER TABLE audit_log ADD COLUMN actor_email TEXT;
--bun:split
ALTER TABLE audit_log ADD COLUMN target_name TEXT;
--bun:split
ALTER TABLE audit_log ADD COLUMN target_email TEXT;
--bun:split
ALTER TABLE audit_log ADD COLUMN reason TEXT;
--bun:split
ALTER TABLE audit_log ADD COLUMN client_ip TEXT;
--bun:split
-- Entries written before this migration get the names as they are now
-- (removed users' rows are kept, so they are found too).
UPDATE audit_log SET
    actor_name = (SELECT name FROM users WHERE users.id = audit_log.actor_id),
    actor_email = (SELECT email FROM users WHERE users.id = audit_log.actor_id),
    target_name = (SELECT name FROM users WHERE users.id = audit_log.target_id),
    target_email = (SELECT email FROM users WHERE users.id = audit_log.target_id);
--bun:split
-- The retention job deletes by age.
CREATE INDEX audit_log_created ON audit_log (created_at);
