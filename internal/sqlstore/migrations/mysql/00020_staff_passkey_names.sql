-- +goose Up
-- The name a staff member gives a passkey on the console, sealed under the
-- member's own data key like the credential record. NULL: not named.
ALTER TABLE staff_passkeys ADD COLUMN name_sealed BLOB NULL;

-- +goose Down
ALTER TABLE staff_passkeys DROP COLUMN name_sealed;
