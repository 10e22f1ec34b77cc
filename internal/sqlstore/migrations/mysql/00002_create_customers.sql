-- +goose Up
-- Customers and their personal data. Every *_sealed column holds Tink AEAD
-- ciphertext under the customer's own data key (data_key, itself wrapped by
-- the key-encryption key), bound to table, column and row id. *_index columns
-- hold keyed blind indexes (HMAC) of normalised values, for exact lookup.
CREATE TABLE IF NOT EXISTS customers (
    id             CHAR(26)      NOT NULL PRIMARY KEY,
    data_key       BLOB          NOT NULL,
    email_index    VARBINARY(32) NOT NULL,
    email_sealed   BLOB          NOT NULL,
    email_verified TINYINT       NOT NULL DEFAULT 0,
    name_sealed    BLOB          NOT NULL,
    password_hash  VARCHAR(255)  NOT NULL,
    created_at     BIGINT        NOT NULL,
    updated_at     BIGINT        NOT NULL,
    UNIQUE KEY customers_email_index (email_index)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS customer_phones (
    id           CHAR(26)      NOT NULL PRIMARY KEY,
    customer_id  CHAR(26)      NOT NULL,
    number_index VARBINARY(32) NOT NULL,
    sealed       BLOB          NOT NULL,
    created_at   BIGINT        NOT NULL,
    UNIQUE KEY customer_phones_customer_number (customer_id, number_index),
    KEY customer_phones_number_index (number_index),
    CONSTRAINT customer_phones_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS customer_addresses (
    id          CHAR(26) NOT NULL PRIMARY KEY,
    customer_id CHAR(26) NOT NULL,
    sealed      BLOB     NOT NULL,
    created_at  BIGINT   NOT NULL,
    updated_at  BIGINT   NOT NULL,
    KEY customer_addresses_customer (customer_id),
    CONSTRAINT customer_addresses_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS customer_addresses;
DROP TABLE IF EXISTS customer_phones;
DROP TABLE IF EXISTS customers;
