-- +goose Up
-- Deployment-wide settings, one row per name: the instance id now, and later
-- state that must survive restarts (such as key rotation progress).
CREATE TABLE IF NOT EXISTS settings (
    name       VARCHAR(64)  NOT NULL PRIMARY KEY,
    value      VARCHAR(255) NOT NULL,
    updated_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS settings;
