-- +goose Up
-- Mail to staff members waiting to be sent (the enrolment link of an
-- approved invitation), sealed under the staff member's own data key and
-- written in the same transaction as the approval that sends it. Only the
-- invitee's mailbox ever receives the link: it is never stored in clear.
CREATE TABLE staff_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    staff_id        TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    sealed          BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_outbox_next ON staff_outbox (next_attempt_at);
CREATE INDEX staff_outbox_staff ON staff_outbox (staff_id);

-- When the enrolment link was delivered to the staff member's mailbox
-- (0: never, e.g. a link the operator's CLI printed), for the team page.
ALTER TABLE staff ADD COLUMN enrol_mailed_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE staff DROP COLUMN enrol_mailed_at;
DROP TABLE staff_outbox;
