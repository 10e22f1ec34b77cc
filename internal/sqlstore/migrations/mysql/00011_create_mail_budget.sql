-- +goose Up
-- The global mail budget: how many messages every server of the deployment
-- together has taken from the outbox in the current minute. One row, locked
-- by each sender while it claims a batch, so the budget holds across servers.
CREATE TABLE IF NOT EXISTS mail_budget (
    id           INT    NOT NULL PRIMARY KEY,
    window_start BIGINT NOT NULL,
    sent         INT    NOT NULL,
    CONSTRAINT mail_budget_one_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO mail_budget (id, window_start, sent) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE IF EXISTS mail_budget;
