-- +goose Up
-- Browsers that completed a sign-in to an account (device cookies). A known
-- browser is exempt from the account-wide and network-wide guessing limits,
-- so an attacker's guesses never lock the owner out. Only the SHA-256 of the
-- cookie's random token is stored; one browser may be known to several
-- accounts (one row each).
CREATE TABLE known_devices (
    token_hash   BLOB    NOT NULL,
    customer_id  TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (token_hash, customer_id)
) STRICT;
CREATE INDEX known_devices_customer ON known_devices (customer_id, last_used_at);

-- +goose Down
DROP TABLE known_devices;
