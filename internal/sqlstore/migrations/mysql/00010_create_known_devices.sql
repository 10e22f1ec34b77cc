-- +goose Up
-- Browsers that completed a sign-in to an account (device cookies). A known
-- browser is exempt from the account-wide and network-wide guessing limits,
-- so an attacker's guesses never lock the owner out. Only the SHA-256 of the
-- cookie's random token is stored; one browser may be known to several
-- accounts (one row each).
CREATE TABLE IF NOT EXISTS known_devices (
    token_hash   VARBINARY(32) NOT NULL,
    customer_id  CHAR(26)      NOT NULL,
    created_at   BIGINT        NOT NULL,
    last_used_at BIGINT        NOT NULL,
    expires_at   BIGINT        NOT NULL,
    PRIMARY KEY (token_hash, customer_id),
    KEY known_devices_customer (customer_id, last_used_at),
    CONSTRAINT known_devices_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS known_devices;
