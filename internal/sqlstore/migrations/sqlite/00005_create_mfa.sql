-- +goose Up
-- TOTP second factor: the secret sealed under the customer's data key; the
-- last accepted time step, so a code is never accepted twice.
CREATE TABLE customer_totp (
    customer_id   TEXT    NOT NULL PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    secret_sealed BLOB    NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0,
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes, stored as hashes only.
CREATE TABLE recovery_codes (
    code_hash   BLOB    NOT NULL PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    used_at     INTEGER
) STRICT;
CREATE INDEX recovery_codes_customer ON recovery_codes (customer_id);

-- Sign-in challenges: a password was right, the second factor is pending.
-- Short-lived, single-use, only the token's hash stored.
CREATE TABLE mfa_challenges (
    token_hash    BLOB    NOT NULL PRIMARY KEY,
    customer_id   TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
) STRICT;

-- +goose Down
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE customer_totp;
