DROP TABLE outbox;
--bun:split
DROP TABLE audit_log;
--bun:split
DROP TABLE tokens;
--bun:split
DROP TABLE users;
--bun:split
DROP TABLE organizations;
