-- +goose Up
-- A new e-mail address waiting for its owner to confirm it, sealed like any
-- personal field; the confirmation link is bound to its blind index.
CREATE TABLE IF NOT EXISTS pending_emails (
    customer_id  CHAR(26)      NOT NULL PRIMARY KEY,
    email_index  VARBINARY(32) NOT NULL,
    email_sealed BLOB          NOT NULL,
    created_at   BIGINT        NOT NULL,
    CONSTRAINT pending_emails_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS pending_emails;
