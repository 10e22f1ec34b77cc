-- +goose Up
-- Web sessions and app token families. Secrets are never stored: only the
-- SHA-256 of each random 256-bit token. Device names are personal (the
-- customer types them), so they are sealed like any personal field.
CREATE TABLE IF NOT EXISTS web_sessions (
    id             CHAR(26)      NOT NULL PRIMARY KEY,
    token_hash     VARBINARY(32) NOT NULL,
    customer_id    CHAR(26)      NOT NULL,
    csrf_token     VARCHAR(64)   NOT NULL,
    device_sealed  BLOB          NOT NULL,
    created_at     BIGINT        NOT NULL,
    last_seen_at   BIGINT        NOT NULL,
    expires_at     BIGINT        NOT NULL,
    recent_auth_at BIGINT        NOT NULL,
    UNIQUE KEY web_sessions_token (token_hash),
    KEY web_sessions_customer (customer_id),
    CONSTRAINT web_sessions_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS token_families (
    id             CHAR(26) NOT NULL PRIMARY KEY,
    customer_id    CHAR(26) NOT NULL,
    device_sealed  BLOB     NOT NULL,
    created_at     BIGINT   NOT NULL,
    last_seen_at   BIGINT   NOT NULL,
    recent_auth_at BIGINT   NOT NULL,
    KEY token_families_customer (customer_id),
    CONSTRAINT token_families_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- kind is 'access' or 'refresh'. A refresh token is used once: used_at is
-- set when it is exchanged, and presenting it again revokes the family.
CREATE TABLE IF NOT EXISTS app_tokens (
    token_hash VARBINARY(32) NOT NULL PRIMARY KEY,
    family_id  CHAR(26)      NOT NULL,
    kind       VARCHAR(8)    NOT NULL,
    expires_at BIGINT        NOT NULL,
    used_at    BIGINT        NULL,
    KEY app_tokens_family (family_id),
    CONSTRAINT app_tokens_family FOREIGN KEY (family_id) REFERENCES token_families (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Single-use tokens sent by e-mail (verification, password reset), bound to
-- the address they were sent to by its blind index.
CREATE TABLE IF NOT EXISTS email_tokens (
    token_hash  VARBINARY(32) NOT NULL PRIMARY KEY,
    customer_id CHAR(26)      NOT NULL,
    purpose     VARCHAR(32)   NOT NULL,
    email_index VARBINARY(32) NOT NULL,
    expires_at  BIGINT        NOT NULL,
    used_at     BIGINT        NULL,
    KEY email_tokens_customer (customer_id),
    CONSTRAINT email_tokens_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Failure counters for sign-in throttling, shared by every server process.
CREATE TABLE IF NOT EXISTS throttles (
    name            VARCHAR(96) NOT NULL PRIMARY KEY,
    failures        INT         NOT NULL,
    last_failure_at BIGINT      NOT NULL,
    blocked_until   BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Mail waiting to be sent, sealed under the recipient customer's data key,
-- written in the same transaction as the change that sends it.
CREATE TABLE IF NOT EXISTS outbox (
    id              CHAR(26) NOT NULL PRIMARY KEY,
    customer_id     CHAR(26) NOT NULL,
    sealed          BLOB     NOT NULL,
    created_at      BIGINT   NOT NULL,
    attempts        INT      NOT NULL DEFAULT 0,
    next_attempt_at BIGINT   NOT NULL,
    KEY outbox_next (next_attempt_at),
    CONSTRAINT outbox_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS outbox;
DROP TABLE IF EXISTS throttles;
DROP TABLE IF EXISTS email_tokens;
DROP TABLE IF EXISTS app_tokens;
DROP TABLE IF EXISTS token_families;
DROP TABLE IF EXISTS web_sessions;
