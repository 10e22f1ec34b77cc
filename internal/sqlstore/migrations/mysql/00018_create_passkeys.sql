-- +goose Up
-- Passkeys (WebAuthn credentials) of customers.
--
-- The user handle an authenticator stores with a discoverable credential:
-- 32 random bytes per customer, never the customer id or e-mail, so a
-- passkey read off a device names nobody.
CREATE TABLE IF NOT EXISTS passkey_handles (
    handle      VARBINARY(64) NOT NULL PRIMARY KEY,
    customer_id CHAR(26)      NOT NULL,
    UNIQUE KEY passkey_handles_customer (customer_id),
    CONSTRAINT passkey_handles_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per registered passkey. The credential id is what the browser
-- names the passkey by (needed in clear to look it up and to list it to
-- the authenticator); the public key and the rest of the credential record
-- and the name the customer gave it are sealed under the customer's data
-- key. The signature counter stays in clear so that its check-and-advance
-- is one conditional UPDATE.
CREATE TABLE IF NOT EXISTS customer_passkeys (
    id            CHAR(26)        NOT NULL PRIMARY KEY,
    customer_id   CHAR(26)        NOT NULL,
    credential_id VARBINARY(1023) NOT NULL,
    record_sealed BLOB            NOT NULL,
    name_sealed   BLOB            NOT NULL,
    sign_count    BIGINT          NOT NULL DEFAULT 0,
    created_at    BIGINT          NOT NULL,
    last_used_at  BIGINT          NOT NULL DEFAULT 0,
    UNIQUE KEY customer_passkeys_credential (credential_id),
    KEY customer_passkeys_customer (customer_id),
    CONSTRAINT customer_passkeys_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Ceremony challenges: short-lived, single-use, stored server-side and
-- bound to what started them (a session, an app sign-in, a pending
-- second factor, or a sign-in attempt whose token only its client holds).
-- Only the hash of the ceremony token is stored.
CREATE TABLE IF NOT EXISTS passkey_challenges (
    token_hash   VARBINARY(32)  NOT NULL PRIMARY KEY,
    purpose      VARCHAR(16)    NOT NULL,
    binding      VARCHAR(128)   NOT NULL,
    customer_id  CHAR(26)       NULL,
    session_data BLOB           NOT NULL,
    expires_at   BIGINT         NOT NULL,
    used_at      BIGINT         NULL,
    KEY passkey_challenges_customer (customer_id),
    KEY passkey_challenges_expiry (expires_at),
    CONSTRAINT passkey_challenges_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Passkeys of staff members: the same record, sealed under the staff
-- member's own data key; the user handle is random and kept with each row.
CREATE TABLE IF NOT EXISTS staff_passkeys (
    id            CHAR(26)        NOT NULL PRIMARY KEY,
    staff_id      CHAR(26)        NOT NULL,
    handle        VARBINARY(64)   NOT NULL,
    credential_id VARBINARY(1023) NOT NULL,
    record_sealed BLOB            NOT NULL,
    sign_count    BIGINT          NOT NULL DEFAULT 0,
    created_at    BIGINT          NOT NULL,
    last_used_at  BIGINT          NOT NULL DEFAULT 0,
    UNIQUE KEY staff_passkeys_credential (credential_id),
    KEY staff_passkeys_staff (staff_id),
    CONSTRAINT staff_passkeys_staff FOREIGN KEY (staff_id) REFERENCES staff (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS staff_passkeys;
DROP TABLE IF EXISTS passkey_challenges;
DROP TABLE IF EXISTS customer_passkeys;
DROP TABLE IF EXISTS passkey_handles;
