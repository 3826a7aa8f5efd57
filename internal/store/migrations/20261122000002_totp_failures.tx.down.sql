ALTER TABLE users DROP COLUMN totp_failures_since;
--bun:split
ALTER TABLE users DROP COLUMN totp_failures;
