-- +goose Up
-- Web sessions and app token families. Secrets are never stored: only the
-- SHA-256 of each random 256-bit token. Device names are personal (the
-- customer types them), so they are sealed like any personal field.
CREATE TABLE web_sessions (
    id             TEXT    NOT NULL PRIMARY KEY,
    token_hash     BLOB    NOT NULL UNIQUE,
    customer_id    TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    csrf_token     TEXT    NOT NULL,
    device_sealed  BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    recent_auth_at INTEGER NOT NULL
) STRICT;
CREATE INDEX web_sessions_customer ON web_sessions (customer_id);

CREATE TABLE token_families (
    id             TEXT    NOT NULL PRIMARY KEY,
    customer_id    TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    device_sealed  BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    recent_auth_at INTEGER NOT NULL
) STRICT;
CREATE INDEX token_families_customer ON token_families (customer_id);

-- kind is 'access' or 'refresh'. A refresh token is used once: used_at is
-- set when it is exchanged, and presenting it again revokes the family.
CREATE TABLE app_tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX app_tokens_family ON app_tokens (family_id);

-- Single-use tokens sent by e-mail (verification, password reset), bound to
-- the address they were sent to by its blind index.
CREATE TABLE email_tokens (
    token_hash  BLOB    NOT NULL PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL,
    email_index BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX email_tokens_customer ON email_tokens (customer_id);

-- Failure counters for sign-in throttling, shared by every server process.
CREATE TABLE throttles (
    name            TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    blocked_until   INTEGER NOT NULL
) STRICT;

-- Mail waiting to be sent, sealed under the recipient customer's data key,
-- written in the same transaction as the change that sends it.
CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    customer_id     TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sealed          BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_next ON outbox (next_attempt_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE throttles;
DROP TABLE email_tokens;
DROP TABLE app_tokens;
DROP TABLE token_families;
DROP TABLE web_sessions;
