-- +goose Up
-- Customers and their personal data. Every *_sealed column holds Tink AEAD
-- ciphertext under the customer's own data key (data_key, itself wrapped by
-- the key-encryption key), bound to table, column and row id. *_index columns
-- hold keyed blind indexes (HMAC) of normalised values, for exact lookup.
CREATE TABLE customers (
    id             TEXT    NOT NULL PRIMARY KEY,
    data_key       BLOB    NOT NULL,
    email_index    BLOB    NOT NULL UNIQUE,
    email_sealed   BLOB    NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    name_sealed    BLOB    NOT NULL,
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE customer_phones (
    id           TEXT    NOT NULL PRIMARY KEY,
    customer_id  TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    number_index BLOB    NOT NULL,
    sealed       BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (customer_id, number_index)
) STRICT;
CREATE INDEX customer_phones_number_index ON customer_phones (number_index);

CREATE TABLE customer_addresses (
    id          TEXT    NOT NULL PRIMARY KEY,
    customer_id TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX customer_addresses_customer ON customer_addresses (customer_id);

-- +goose Down
DROP TABLE customer_addresses;
DROP TABLE customer_phones;
DROP TABLE customers;
