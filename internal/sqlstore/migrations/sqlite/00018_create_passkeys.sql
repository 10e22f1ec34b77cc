-- +goose Up
-- Passkeys (WebAuthn credentials) of customers.
--
-- The user handle an authenticator stores with a discoverable credential:
-- 32 random bytes per customer, never the customer id or e-mail, so a
-- passkey read off a device names nobody.
CREATE TABLE passkey_handles (
    handle      BLOB NOT NULL PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE REFERENCES customers (id) ON DELETE CASCADE
) STRICT;

-- One row per registered passkey. The credential id is what the browser
-- names the passkey by (needed in clear to look it up and to list it to
-- the authenticator); the public key and the rest of the credential record
-- and the name the customer gave it are sealed under the customer's data
-- key. The signature counter stays in clear so that its check-and-advance
-- is one conditional UPDATE.
CREATE TABLE customer_passkeys (
    id            TEXT    NOT NULL PRIMARY KEY,
    customer_id   TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    record_sealed BLOB    NOT NULL,
    name_sealed   BLOB    NOT NULL,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX customer_passkeys_customer ON customer_passkeys (customer_id);

-- Ceremony challenges: short-lived, single-use, stored server-side and
-- bound to what started them (a session, an app sign-in, a pending
-- second factor, or a sign-in attempt whose token only its client holds).
-- Only the hash of the ceremony token is stored.
CREATE TABLE passkey_challenges (
    token_hash   BLOB    NOT NULL PRIMARY KEY,
    purpose      TEXT    NOT NULL,
    binding      TEXT    NOT NULL,
    customer_id  TEXT    REFERENCES customers (id) ON DELETE CASCADE,
    session_data BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;
CREATE INDEX passkey_challenges_customer ON passkey_challenges (customer_id);
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);

-- Passkeys of staff members: the same record, sealed under the staff
-- member's own data key; the user handle is random and kept with each row.
CREATE TABLE staff_passkeys (
    id            TEXT    NOT NULL PRIMARY KEY,
    staff_id      TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    handle        BLOB    NOT NULL,
    credential_id BLOB    NOT NULL UNIQUE,
    record_sealed BLOB    NOT NULL,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX staff_passkeys_staff ON staff_passkeys (staff_id);

-- +goose Down
DROP TABLE staff_passkeys;
DROP TABLE passkey_challenges;
DROP TABLE customer_passkeys;
DROP TABLE passkey_handles;
