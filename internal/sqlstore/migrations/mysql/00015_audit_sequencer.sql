-- +goose Up
-- The audit trail without a hot row. An entry is now committed with its
-- change as an unsequenced row: an id from AUTO_INCREMENT (Galera gives each
-- node its own offset, so nodes never collide) and a keyed MAC over the entry
-- and that id (leaf_key, leaf_mac). One sequencer at a time (the holder of the
-- lease below) later gives pending entries their place in the chain (seq) and
-- the chain MAC (key_id, mac) over that place, the leaf MAC and the MAC before.
-- Appenders therefore only insert rows; the head is written by the sequencer
-- alone. Existing entries keep their seq as their id and their chain MAC in the
-- old form (an empty leaf_mac marks it). Each statement is safe to re-run.
ALTER TABLE audit_log
    ADD COLUMN IF NOT EXISTS id       BIGINT        NOT NULL DEFAULT 0 FIRST,
    ADD COLUMN IF NOT EXISTS leaf_key BIGINT        NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS leaf_mac VARBINARY(64) NOT NULL DEFAULT '';
UPDATE audit_log SET id = seq WHERE id = 0;
ALTER TABLE audit_log
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (id),
    MODIFY id BIGINT NOT NULL AUTO_INCREMENT,
    MODIFY seq BIGINT NULL,
    ADD UNIQUE KEY IF NOT EXISTS audit_log_seq (seq),
    DROP KEY IF EXISTS audit_log_target,
    ADD KEY IF NOT EXISTS audit_log_target_id (target_id, id);

-- The sequencer's lease: one row naming the server instance that chains
-- pending entries until the time given (unix milliseconds). Only the holder
-- writes it while the lease runs; another server takes it over once expired.
CREATE TABLE IF NOT EXISTS audit_sequencer (
    id     TINYINT     NOT NULL PRIMARY KEY,
    holder VARCHAR(64) NOT NULL,
    until  BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO audit_sequencer (id, holder, until) VALUES (1, '', 0);

-- +goose Down
DROP TABLE IF EXISTS audit_sequencer;
DELETE FROM audit_log WHERE seq IS NULL;
ALTER TABLE audit_log
    DROP PRIMARY KEY,
    MODIFY seq BIGINT NOT NULL,
    ADD PRIMARY KEY (seq),
    DROP KEY IF EXISTS audit_log_seq,
    DROP KEY IF EXISTS audit_log_target_id,
    ADD KEY IF NOT EXISTS audit_log_target (target_id, seq),
    DROP COLUMN id,
    DROP COLUMN leaf_key,
    DROP COLUMN leaf_mac;
