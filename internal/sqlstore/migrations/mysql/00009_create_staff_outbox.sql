-- +goose Up
-- Mail to staff members waiting to be sent (the enrolment link of an
-- approved invitation), sealed under the staff member's own data key and
-- written in the same transaction as the approval that sends it. Only the
-- invitee's mailbox ever receives the link: it is never stored in clear.
CREATE TABLE IF NOT EXISTS staff_outbox (
    id              CHAR(26) NOT NULL PRIMARY KEY,
    staff_id        CHAR(26) NOT NULL,
    sealed          BLOB     NOT NULL,
    created_at      BIGINT   NOT NULL,
    attempts        INT      NOT NULL DEFAULT 0,
    next_attempt_at BIGINT   NOT NULL,
    KEY staff_outbox_next (next_attempt_at),
    CONSTRAINT staff_outbox_staff FOREIGN KEY (staff_id) REFERENCES staff (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- When the enrolment link was delivered to the staff member's mailbox
-- (0: never, e.g. a link the operator's CLI printed), for the team page.
ALTER TABLE staff ADD COLUMN enrol_mailed_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE staff DROP COLUMN enrol_mailed_at;
DROP TABLE IF EXISTS staff_outbox;
