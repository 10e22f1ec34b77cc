-- +goose Up
-- A new e-mail address waiting for its owner to confirm it, sealed like any
-- personal field; the confirmation link is bound to its blind index.
CREATE TABLE pending_emails (
    customer_id  TEXT    NOT NULL PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    email_index  BLOB    NOT NULL,
    email_sealed BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE pending_emails;
