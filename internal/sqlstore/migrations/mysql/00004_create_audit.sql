-- +goose Up
-- The audit trail: append-only, each entry chained to the one before by a
-- keyed MAC (the vault's audit key) over its canonical encoding. Entries hold
-- ids, action names and field names, never personal values.
CREATE TABLE IF NOT EXISTS audit_log (
    seq         BIGINT        NOT NULL PRIMARY KEY,
    at          BIGINT        NOT NULL,
    actor_kind  VARCHAR(16)   NOT NULL,
    actor_id    VARCHAR(64)   NOT NULL,
    actor_role  VARCHAR(16)   NOT NULL,
    action      VARCHAR(64)   NOT NULL,
    target_kind VARCHAR(16)   NOT NULL,
    target_id   VARCHAR(64)   NOT NULL,
    outcome     VARCHAR(16)   NOT NULL,
    request_id  VARCHAR(64)   NOT NULL,
    client      VARCHAR(128)  NOT NULL,
    fields      VARCHAR(512)  NOT NULL,
    reason      VARCHAR(1024) NOT NULL,
    key_id      BIGINT        NOT NULL,
    mac         VARBINARY(64) NOT NULL,
    KEY audit_log_target (target_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The head of the chain, one row: appenders lock it, so two processes
-- append one after the other and the chain stays one chain.
CREATE TABLE IF NOT EXISTS audit_head (
    id  TINYINT       NOT NULL PRIMARY KEY,
    seq BIGINT        NOT NULL,
    mac VARBINARY(64) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO audit_head (id, seq, mac) VALUES (1, 0, X'');

-- Checkpoints: (seq, mac) of the chain every N entries and at shutdown,
-- MACed, also written to the log stream so a cut-off tail can be detected
-- against a copy kept outside the database.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq    BIGINT        NOT NULL PRIMARY KEY,
    mac    VARBINARY(64) NOT NULL,
    at     BIGINT        NOT NULL,
    key_id BIGINT        NOT NULL,
    tag    VARBINARY(64) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS audit_checkpoints;
DROP TABLE IF EXISTS audit_head;
DROP TABLE IF EXISTS audit_log;
