-- +goose Up
-- The deployment's key set, kept in the database so that every server of a
-- deployment uses the same keys and a rotation from any host reaches them
-- all. keyset is the key set encrypted under a key-set key, itself
-- encrypted under the deployment's master key(s), which never enter the
-- database: a copy of the database alone opens nothing. binding names the
-- key set (key ids and a keyed check value, nothing secret). One row only;
-- generation counts its changes (servers poll the row and reload on change).
CREATE TABLE keyring (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    binding    TEXT    NOT NULL,
    keyset     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE keyring;
