-- +goose Up
-- The deployment's key set, kept in the database so that every server of a
-- deployment uses the same keys and a rotation from any host reaches them
-- all. sealed is the key set encrypted under a key-set key, itself
-- encrypted under the deployment's master key(s), which never enter the
-- database: a copy of the database alone opens nothing. binding names the
-- key set (key ids and a keyed check value, nothing secret). One row only;
-- generation counts changes, for servers polling it.
CREATE TABLE keyring (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    binding    TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE keyring;
