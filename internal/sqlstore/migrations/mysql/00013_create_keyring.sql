-- +goose Up
-- The deployment's key set, kept in the database so that every server of a
-- deployment uses the same keys and a rotation from any host reaches them
-- all. keyset is the key set encrypted under a key-set key, itself
-- encrypted under the deployment's master key(s), which never enter the
-- database: a copy of the database alone opens nothing. binding names the
-- key set (key ids and a keyed check value, nothing secret). One row only;
-- generation counts its changes (servers poll the row and reload on change).
CREATE TABLE IF NOT EXISTS keyring (
    id         TINYINT    NOT NULL PRIMARY KEY,
    generation BIGINT     NOT NULL,
    binding    TEXT       NOT NULL,
    keyset     MEDIUMBLOB NOT NULL,
    updated_at BIGINT     NOT NULL,
    CONSTRAINT keyring_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS keyring;
