DROP INDEX audit_log_created;
--bun:split
ALTER TABLE audit_log DROP COLUMN client_ip;
--bun:split
ALTER TABLE audit_log DROP COLUMN reason;
--bun:split
ALTER TABLE audit_log DROP COLUMN target_email;
--bun:split
ALTER TABLE audit_log DROP COLUMN target_name;
--bun:split
ALTER TABLE audit_log DROP COLUMN actor_email;
--bun:split
ALTER TABLE audit_log DROP COLUMN actor_name;
