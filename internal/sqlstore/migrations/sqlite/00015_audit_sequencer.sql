-- +goose Up
-- The audit trail without a hot row. An entry is now committed with its
-- change as an unsequenced row: an id (the rowid) and a keyed MAC over the
-- entry and that id (leaf_key, leaf_mac). One sequencer at a time (the holder
-- of the lease below) later gives pending entries their place in the chain
-- (seq) and the chain MAC (key_id, mac) over that place, the leaf MAC and the
-- MAC before. Existing entries keep their seq as their id and their chain MAC
-- in the old form (an empty leaf_mac marks it).
CREATE TABLE audit_log_v2 (
    id          INTEGER NOT NULL PRIMARY KEY,
    seq         INTEGER UNIQUE,            -- place in the chain; NULL while pending
    at          INTEGER NOT NULL,          -- unix milliseconds
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_kind TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    client      TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    key_id      INTEGER NOT NULL,          -- chain MAC key (0 while pending)
    mac         BLOB    NOT NULL,          -- chain MAC (empty while pending)
    leaf_key    INTEGER NOT NULL DEFAULT 0,
    leaf_mac    BLOB    NOT NULL DEFAULT X''
) STRICT;
INSERT INTO audit_log_v2 (id, seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac)
    SELECT seq, seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_v2 RENAME TO audit_log;
CREATE INDEX audit_log_target_id ON audit_log (target_id, id);

-- The sequencer's lease: one row naming the server instance that chains
-- pending entries until the time given (unix milliseconds).
CREATE TABLE audit_sequencer (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder TEXT    NOT NULL,
    until  INTEGER NOT NULL
) STRICT;
INSERT INTO audit_sequencer (id, holder, until) VALUES (1, '', 0);

-- +goose Down
DROP TABLE audit_sequencer;
CREATE TABLE audit_log_v1 (
    seq         INTEGER NOT NULL PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_kind TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    client      TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    key_id      INTEGER NOT NULL,
    mac         BLOB    NOT NULL
) STRICT;
INSERT INTO audit_log_v1 SELECT seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac FROM audit_log WHERE seq IS NOT NULL;
DROP TABLE audit_log;
ALTER TABLE audit_log_v1 RENAME TO audit_log;
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
