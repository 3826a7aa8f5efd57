-- The schema for PostgreSQL and SQLite. Types are spelled so that both
-- accept them; .Postgres marks the few places where they differ.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
--bun:split
-- email and name_key (the lower-cased name) sort bytewise on both
-- databases, so a cursor means the same thing everywhere.
CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    email              TEXT{{if .Postgres}} COLLATE "C"{{end}} NOT NULL,
    name               TEXT NOT NULL,
    name_key           TEXT{{if .Postgres}} COLLATE "C"{{end}} NOT NULL,
    role               TEXT NOT NULL,
    role_order         INTEGER NOT NULL,
    status             TEXT NOT NULL,
    password_hash      TEXT NOT NULL DEFAULT '',
    totp_secret        BYTEA,
    two_factor_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step     BIGINT NOT NULL DEFAULT 0,
    invited_by_id      TEXT REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL,
    last_active_at     TIMESTAMPTZ,
    invitation_sent_at TIMESTAMPTZ,
    sessions_not_before TIMESTAMPTZ,
    removed_at         TIMESTAMPTZ
);
--bun:split
-- One live account per address, in any letter case; a removed user's
-- address can be invited again. On lower(email) rather than email (which is
-- stored lower-cased anyway) so that PostgreSQL never reads this
-- installation-wide index to order one organisation's page by email.
CREATE UNIQUE INDEX users_email_live ON users (lower(email)) WHERE removed_at IS NULL;
--bun:split
-- Keyset pagination: one index per order, the id breaking ties.
CREATE INDEX users_org_name ON users (org_id, name_key, id) WHERE removed_at IS NULL;
--bun:split
CREATE INDEX users_org_email ON users (org_id, email, id) WHERE removed_at IS NULL;
--bun:split
CREATE INDEX users_org_role ON users (org_id, role_order, id) WHERE removed_at IS NULL;
--bun:split
CREATE INDEX users_org_created ON users (org_id, created_at, id) WHERE removed_at IS NULL;
--bun:split
-- NULL (never active) sorts first ascending and last descending on both
-- databases (SQLite's fixed rule; PostgreSQL needs it spelled out).
CREATE INDEX users_org_last_active ON users (org_id, last_active_at{{if .Postgres}} NULLS FIRST{{end}}, id) WHERE removed_at IS NULL;
--bun:split
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);
--bun:split
CREATE INDEX tokens_user_open ON tokens (user_id, kind) WHERE used_at IS NULL;
--bun:split
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_id   TEXT,
    before_role TEXT,
    after_role  TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX audit_log_org ON audit_log (org_id, id);
--bun:split
-- The transactional outbox: written with the change that needs the email,
-- sent by the delivery worker. payload is sealed (it holds a link token).
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT,
    recipient       TEXT NOT NULL,
    payload         BYTEA,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
--bun:split
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
--bun:split
CREATE INDEX outbox_user ON outbox (user_id, created_at);
