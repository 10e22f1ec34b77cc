-- +goose Up
-- Deployment-wide settings, one row per name: the instance id now, and later
-- state that must survive restarts (such as key rotation progress).
CREATE TABLE IF NOT EXISTS settings (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS settings;
