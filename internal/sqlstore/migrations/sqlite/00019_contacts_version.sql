-- +goose Up
-- A counter raised by every write to the customer's phones and addresses,
-- in the same transaction. A bearer-token read takes it with the token in
-- one statement and answers the contacts from memory when it has them at
-- this version (internal/sqlstore/contacts.go).
ALTER TABLE customers ADD COLUMN contacts_version INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE customers DROP COLUMN contacts_version;
