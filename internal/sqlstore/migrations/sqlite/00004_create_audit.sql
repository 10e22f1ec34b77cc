-- +goose Up
-- The audit trail: append-only, each entry chained to the one before by a
-- keyed MAC (the vault's audit key) over its canonical encoding. Entries hold
-- ids, action names and field names, never personal values.
CREATE TABLE audit_log (
    seq         INTEGER NOT NULL PRIMARY KEY,
    at          INTEGER NOT NULL, -- unix milliseconds
    actor_kind  TEXT    NOT NULL, -- customer, staff, system, anonymous
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL, -- staff role, for the customer's access log
    action      TEXT    NOT NULL,
    target_kind TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    client      TEXT    NOT NULL, -- coarse network and device
    fields      TEXT    NOT NULL, -- names of changed fields, comma-separated
    reason      TEXT    NOT NULL,
    key_id      INTEGER NOT NULL,
    mac         BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_log_target ON audit_log (target_id, seq);

-- The head of the chain, one row: appenders lock it, so two processes
-- append one after the other and the chain stays one chain.
CREATE TABLE audit_head (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac BLOB    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, X'');

-- Checkpoints: (seq, mac) of the chain every N entries and at shutdown,
-- MACed, also written to the log stream so a cut-off tail can be detected
-- against a copy kept outside the database.
CREATE TABLE audit_checkpoints (
    seq    INTEGER NOT NULL PRIMARY KEY,
    mac    BLOB    NOT NULL,
    at     INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    tag    BLOB    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
DROP TABLE audit_log;
