-- +goose Up
-- Staff accounts, separate from customers. The e-mail is the employee's work
-- address and sign-in name, kept in clear (it is not customer data); the
-- TOTP secret is sealed under the staff member's own data key. An account is
-- usable only once enrolled: password set and TOTP confirmed through the
-- single-use enrolment link (only its hash stored).
CREATE TABLE IF NOT EXISTS staff (
    id               CHAR(26)      NOT NULL PRIMARY KEY,
    email            VARCHAR(254)  NOT NULL,
    role             VARCHAR(16)   NOT NULL,
    data_key         BLOB          NOT NULL,
    password_hash    VARCHAR(255)  NOT NULL DEFAULT '',
    totp_sealed      BLOB          NULL,
    totp_enabled     TINYINT       NOT NULL DEFAULT 0,
    totp_last_step   BIGINT        NOT NULL DEFAULT 0,
    disabled         TINYINT       NOT NULL DEFAULT 0,
    enrol_hash       VARBINARY(32) NULL,
    enrol_expires_at BIGINT        NOT NULL DEFAULT 0,
    created_at       BIGINT        NOT NULL,
    UNIQUE KEY staff_email (email),
    UNIQUE KEY staff_enrol (enrol_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Staff sessions: the cookie holds a random token, stored as its hash.
-- A row with mfa_done = 0 is a sign-in waiting for its code.
CREATE TABLE IF NOT EXISTS staff_sessions (
    id             CHAR(26)      NOT NULL PRIMARY KEY,
    token_hash     VARBINARY(32) NOT NULL,
    staff_id       CHAR(26)      NOT NULL,
    csrf_token     VARCHAR(64)   NOT NULL,
    mfa_done       TINYINT       NOT NULL DEFAULT 0,
    created_at     BIGINT        NOT NULL,
    last_seen_at   BIGINT        NOT NULL,
    expires_at     BIGINT        NOT NULL,
    recent_auth_at BIGINT        NOT NULL,
    UNIQUE KEY staff_sessions_token (token_hash),
    KEY staff_sessions_staff (staff_id),
    CONSTRAINT staff_sessions_staff FOREIGN KEY (staff_id) REFERENCES staff (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Four-eyes requests: one staff member asks, a different one approves
-- within the deadline, then the operation runs once.
CREATE TABLE IF NOT EXISTS approvals (
    id           CHAR(26)     NOT NULL PRIMARY KEY,
    kind         VARCHAR(32)  NOT NULL,
    subject_id   CHAR(26)     NOT NULL,
    detail       VARCHAR(64)  NOT NULL DEFAULT '',
    requested_by CHAR(26)     NOT NULL,
    requested_at BIGINT       NOT NULL,
    expires_at   BIGINT       NOT NULL,
    decided_by   CHAR(26)     NULL,
    decided_at   BIGINT       NULL,
    status       VARCHAR(16)  NOT NULL,
    KEY approvals_status (status, requested_at),
    CONSTRAINT approvals_requested_by FOREIGN KEY (requested_by) REFERENCES staff (id),
    CONSTRAINT approvals_decided_by FOREIGN KEY (decided_by) REFERENCES staff (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Reveals of personal data by staff, for the per-person rate limit.
CREATE TABLE IF NOT EXISTS staff_reveals (
    staff_id CHAR(26) NOT NULL,
    at       BIGINT   NOT NULL,
    KEY staff_reveals_staff (staff_id, at),
    CONSTRAINT staff_reveals_staff FOREIGN KEY (staff_id) REFERENCES staff (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A lead may lock a customer out of sign-in.
ALTER TABLE customers ADD COLUMN locked TINYINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE customers DROP COLUMN locked;
DROP TABLE IF EXISTS staff_reveals;
DROP TABLE IF EXISTS approvals;
DROP TABLE IF EXISTS staff_sessions;
DROP TABLE IF EXISTS staff;
