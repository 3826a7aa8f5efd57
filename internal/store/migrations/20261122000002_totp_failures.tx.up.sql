-- Wrong TOTP codes per user within a rolling day, so that a password thief
-- can't guess codes slowly forever.
ALTER TABLE users ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE users ADD COLUMN totp_failures_since TIMESTAMPTZ;
