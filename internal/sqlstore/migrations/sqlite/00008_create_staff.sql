-- +goose Up
-- Staff accounts, separate from customers. The e-mail is the employee's work
-- address and sign-in name, kept in clear (it is not customer data); the
-- TOTP secret is sealed under the staff member's own data key. An account is
-- usable only once enrolled: password set and TOTP confirmed through the
-- single-use enrolment link (only its hash stored).
CREATE TABLE staff (
    id               TEXT    NOT NULL PRIMARY KEY,
    email            TEXT    NOT NULL UNIQUE,
    role             TEXT    NOT NULL,
    data_key         BLOB    NOT NULL,
    password_hash    TEXT    NOT NULL DEFAULT '',
    totp_sealed      BLOB,
    totp_enabled     INTEGER NOT NULL DEFAULT 0,
    totp_last_step   INTEGER NOT NULL DEFAULT 0,
    disabled         INTEGER NOT NULL DEFAULT 0,
    enrol_hash       BLOB    UNIQUE,
    enrol_expires_at INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
) STRICT;

-- Staff sessions: the cookie holds a random token, stored as its hash.
-- A row with mfa_done = 0 is a sign-in waiting for its code.
CREATE TABLE staff_sessions (
    id             TEXT    NOT NULL PRIMARY KEY,
    token_hash     BLOB    NOT NULL UNIQUE,
    staff_id       TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token     TEXT    NOT NULL,
    mfa_done       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    recent_auth_at INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Four-eyes requests: one staff member asks, a different one approves
-- within the deadline, then the operation runs once.
CREATE TABLE approvals (
    id           TEXT    NOT NULL PRIMARY KEY,
    kind         TEXT    NOT NULL,
    subject_id   TEXT    NOT NULL,
    detail       TEXT    NOT NULL DEFAULT '',
    requested_by TEXT    NOT NULL REFERENCES staff (id),
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decided_by   TEXT    REFERENCES staff (id),
    decided_at   INTEGER,
    status       TEXT    NOT NULL
) STRICT;
CREATE INDEX approvals_status ON approvals (status, requested_at);

-- Reveals of personal data by staff, for the per-person rate limit.
CREATE TABLE staff_reveals (
    staff_id TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_reveals_staff ON staff_reveals (staff_id, at);

-- A lead may lock a customer out of sign-in.
ALTER TABLE customers ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE customers DROP COLUMN locked;
DROP TABLE staff_reveals;
DROP TABLE approvals;
DROP TABLE staff_sessions;
DROP TABLE staff;
