-- +goose Up
-- The name a staff member chose at enrolment, shown to colleagues with the
-- role (approvals, the audit trail, the team page). Sealed under the staff
-- member's own data key, like the TOTP secret; NULL for staff enrolled
-- before names existed (the pages then show the work address).
ALTER TABLE staff ADD COLUMN name_sealed BLOB NULL;

-- +goose Down
ALTER TABLE staff DROP COLUMN name_sealed;
