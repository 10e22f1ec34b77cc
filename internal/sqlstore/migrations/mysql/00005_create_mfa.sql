-- +goose Up
-- TOTP second factor: the secret sealed under the customer's data key; the
-- last accepted time step, so a code is never accepted twice.
CREATE TABLE IF NOT EXISTS customer_totp (
    customer_id   CHAR(26) NOT NULL PRIMARY KEY,
    secret_sealed BLOB     NOT NULL,
    enabled       TINYINT  NOT NULL DEFAULT 0,
    last_step     BIGINT   NOT NULL DEFAULT 0,
    created_at    BIGINT   NOT NULL,
    CONSTRAINT customer_totp_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Single-use recovery codes, stored as hashes only.
CREATE TABLE IF NOT EXISTS recovery_codes (
    code_hash   VARBINARY(32) NOT NULL PRIMARY KEY,
    customer_id CHAR(26)      NOT NULL,
    used_at     BIGINT        NULL,
    KEY recovery_codes_customer (customer_id),
    CONSTRAINT recovery_codes_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Sign-in challenges: a password was right, the second factor is pending.
-- Short-lived, single-use, only the token's hash stored.
CREATE TABLE IF NOT EXISTS mfa_challenges (
    token_hash  VARBINARY(32) NOT NULL PRIMARY KEY,
    customer_id CHAR(26)      NOT NULL,
    expires_at  BIGINT        NOT NULL,
    used_at     BIGINT        NULL,
    CONSTRAINT mfa_challenges_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS mfa_challenges;
DROP TABLE IF EXISTS recovery_codes;
DROP TABLE IF EXISTS customer_totp;
